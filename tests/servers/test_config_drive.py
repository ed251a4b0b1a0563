"""A config drive by default, none when the create says config_drive false (the SDK sends that)."""

from __future__ import annotations

import openstack

from gureum.testing import RunningCloud
from tests.conftest import unique


def test_config_drive_as_asked_through_the_sdk_and_bad_values_are_400(cloud: RunningCloud, guest_image: str) -> None:
    conn = openstack.connection.Connection(auth_url=cloud.auth_url, username="admin", password=cloud.admin_password,
                                           project_name="admin", user_domain_name="Default",
                                           project_domain_name="Default")
    flavor = conn.compute.find_flavor("t2.nano", ignore_missing=False)
    made = {}
    try:
        for asked in (None, False, True):
            extra = {} if asked is None else {"config_drive": asked}
            server = conn.compute.create_server(name=unique("cd"), image_id=guest_image, flavor_id=flavor.id,
                                                networks="none", **extra)
            made[asked] = server.id
        shown = {asked: conn.compute.get_server(server_id).has_config_drive for asked, server_id in made.items()}
        # Nova shows "True" or "" here; the SDK reads both as they are.
        assert shown[None] == "True" and shown[True] == "True" and not shown[False], shown
        refused = conn.compute.post("/servers", json={"server": {
            "name": unique("cd"), "imageRef": guest_image, "flavorRef": flavor.id, "networks": "none",
            "config_drive": "maybe"}}, microversion="2.37")
        assert refused.status_code == 400 and "config_drive" in refused.text, refused.text
    finally:
        for server_id in made.values():
            conn.compute.delete_server(server_id, ignore_missing=True)
        conn.close()
