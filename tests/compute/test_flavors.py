"""Flavors through the real CLI and over HTTP: the seed's catalog, create/show/set/delete,
private flavors and their access lists, extra specs, and the shapes of each microversion."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from gureum.compute import flavors as service
from gureum.compute.models import Flavor, FlavorAccess
from gureum.db.base import Base
from gureum.http.context import RequestContext
from gureum.http.errors import NotFound
from gureum.testing import RunningCloud
from tests.compute.nova_api import call, project_id, token

SEED = {
    "t2.nano": (1, 512, 8),
    "t2.micro": (1, 1024, 8),
    "t2.small": (1, 2048, 20),
    "t2.medium": (2, 4096, 40),
    "t2.large": (2, 8192, 40),
    "t2.xlarge": (4, 16384, 80),
    "t2.2xlarge": (8, 32768, 160),
}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def tenant(cloud: RunningCloud) -> dict[str, str]:
    """A member of a fresh project, for the module: their CLI env plus ids."""
    project, user, password = unique("fproj"), unique("fuser"), uuid.uuid4().hex
    cloud.openstack("project", "create", project)
    cloud.openstack("user", "create", "--password", password, "--project", project, user)
    cloud.openstack("role", "add", "--project", project, "--user", user, "member")
    env = cloud.env_for(user, password, project)
    return {"env": env, "project": project, "project_id": project_id(cloud, project), "user": user,  # type: ignore[dict-item]
            "token": token(cloud, user, password, project)}


# -- the seed's catalog ----------------------------------------------------------


def test_seed_catalog_is_listed(cloud: RunningCloud) -> None:
    listed = {f["Name"]: f for f in cloud.openstack_json("flavor", "list")}
    for name, (vcpus, ram, disk) in SEED.items():
        assert name in listed, f"{name} missing from {sorted(listed)}"
        row = listed[name]
        got = (row["VCPUs"], row["RAM"], row["Disk"], row["Ephemeral"], row["Is Public"])
        assert got == (vcpus, ram, disk, 0, True)


def test_show_by_name_falls_back_from_a_404(cloud: RunningCloud) -> None:
    answer = call(cloud, "GET", "/flavors/t2.micro")
    assert answer.status == 404
    assert answer.body == {"itemNotFound": {"code": 404, "message": "Flavor t2.micro could not be found."}}
    shown = cloud.openstack_json("flavor", "show", "t2.micro")
    assert (shown["vcpus"], shown["ram"], shown["disk"], shown["swap"]) == (1, 1024, 8, 0)
    assert shown["os-flavor-access:is_public"] is True


def test_seeding_is_idempotent_and_ids_are_stable() -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine, tables=[Flavor.__table__, FlavorAccess.__table__])
    with Session(engine) as session:
        assert service.seed_default_flavors(session) == 7
        first = {f.name: f.id for f in session.query(Flavor)}
        assert service.seed_default_flavors(session) == 0
        session.delete(session.get(Flavor, first["t2.large"]))
        session.flush()
        assert service.seed_default_flavors(session) == 1
        assert {f.name: f.id for f in session.query(Flavor)} == first


def test_find_flavor_takes_links_and_hides_private_ones() -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine, tables=[Flavor.__table__, FlavorAccess.__table__])
    admin = RequestContext(user_id="u0", user_name="admin", user_domain_id="default", user_domain_name="Default",
                           roles=("admin", "member", "reader"), project_id="p0")
    member = RequestContext(user_id="u1", user_name="m", user_domain_id="default", user_domain_name="Default",
                            roles=("member", "reader"), project_id="p1")
    with Session(engine) as session:
        service.seed_default_flavors(session)
        micro = session.query(Flavor).filter_by(name="t2.micro").one()
        href = f"http://controller/compute/v2.1/flavors/{micro.id}"
        assert service.find_flavor(session, href, member).id == micro.id
        private = service.create_flavor(session, name="secret", ram=64, vcpus=1, disk=0, is_public=False)
        with pytest.raises(NotFound, match=f"Flavor {private.id} could not be found."):
            service.find_flavor(session, private.id, member)
        assert service.find_flavor(session, private.id, admin).name == "secret"
        session.add(FlavorAccess(flavor_id=private.id, project_id="p1"))
        session.flush()
        assert service.find_flavor(session, private.id, member).name == "secret"
        snapshot = service.flavor_snapshot(micro)
        assert snapshot == {"id": micro.id, "name": "t2.micro", "vcpus": 1, "ram": 1024, "disk": 8, "ephemeral": 0,
                            "swap": 0, "rxtx_factor": 1.0, "extra_specs": {}}


# -- create, set, delete through the CLI ------------------------------------------


def test_create_show_set_unset_delete(cloud: RunningCloud) -> None:
    name = unique("t2.custom")
    created = cloud.openstack_json("flavor", "create", name, "--vcpus", "2", "--ram", "1024", "--disk", "8",
                                   "--swap", "512", "--ephemeral", "1", "--description", "for tests",
                                   "--property", "hw:cpu_policy=shared")
    assert created["name"] == name
    assert (created["vcpus"], created["ram"], created["disk"], created["swap"]) == (2, 1024, 8, 512)
    assert created["OS-FLV-EXT-DATA:ephemeral"] == 1
    assert created["description"] == "for tests"
    assert created["properties"] == {"hw:cpu_policy": "shared"}
    uuid.UUID(created["id"])  # an id was generated

    cloud.openstack("flavor", "set", name, "--property", "quota:cpu_shares=1024", "--description", "changed")
    shown = cloud.openstack_json("flavor", "show", name)
    assert shown["properties"] == {"hw:cpu_policy": "shared", "quota:cpu_shares": "1024"}
    assert shown["description"] == "changed"

    cloud.openstack("flavor", "unset", name, "--property", "hw:cpu_policy")
    assert cloud.openstack_json("flavor", "show", name)["properties"] == {"quota:cpu_shares": "1024"}

    cloud.openstack("flavor", "delete", name)
    gone = cloud.openstack("flavor", "show", name, check=False)
    assert gone.returncode != 0
    assert "No Flavor found" in gone.stderr


def test_given_id_and_duplicates(cloud: RunningCloud) -> None:
    name, flavor_id = unique("given"), unique("id")
    created = call(cloud, "POST", "/flavors", {"flavor": {"name": name, "id": flavor_id, "ram": 128, "vcpus": 1,
                                                         "disk": 1}})
    assert created.status == 200
    assert created.body["flavor"]["id"] == flavor_id
    same_name = call(cloud, "POST", "/flavors", {"flavor": {"name": name, "ram": 128, "vcpus": 1, "disk": 1}})
    assert same_name.status == 409
    assert same_name.body == {"conflictingRequest": {"code": 409,
                                                     "message": f"Flavor with name {name} already exists."}}
    same_id = call(cloud, "POST", "/flavors", {"flavor": {"name": unique("other"), "id": flavor_id, "ram": 128,
                                                         "vcpus": 1, "disk": 1}})
    assert same_id.status == 409
    assert same_id.fault()["message"] == f"Flavor with ID {flavor_id} already exists."
    deleted = call(cloud, "DELETE", f"/flavors/{flavor_id}")
    assert deleted.status == 202
    again = call(cloud, "DELETE", f"/flavors/{flavor_id}")
    assert again.status == 404
    assert again.fault()["message"] == f"Flavor {flavor_id} could not be found."


@pytest.mark.parametrize(
    ("flavor", "message"),
    [
        ({"name": "x", "ram": 0, "vcpus": 1, "disk": 1},
         "Invalid input for field/attribute ram. Value: 0. 0 is less than the minimum of 1"),
        ({"name": "x", "ram": 64, "vcpus": 1, "disk": -1},
         "Invalid input for field/attribute disk. Value: -1. -1 is less than the minimum of 0"),
        ({"name": "x", "ram": 64, "vcpus": 1},
         "Invalid input for field/attribute flavor. Value: {'name': 'x', 'ram': 64, 'vcpus': 1}. "
         "'disk' is a required property"),
        ({"name": " x", "ram": 64, "vcpus": 1, "disk": 1},
         "An invalid 'name' value was provided. The name must be: printable characters. "
         "Can not start or end with whitespace."),
        ({"name": "x", "ram": 64, "vcpus": 1, "disk": 1, "colour": "red"},
         "Additional properties are not allowed ('colour' was unexpected)"),
    ],
)
def test_bad_input_names_the_field(cloud: RunningCloud, flavor: dict, message: str) -> None:
    answer = call(cloud, "POST", "/flavors", {"flavor": flavor})
    assert answer.status == 400
    got = answer.fault()["message"]
    assert got.startswith(message) or message in got, got


# -- microversion shapes --------------------------------------------------------------


def test_shapes_per_microversion(cloud: RunningCloud) -> None:
    listed = call(cloud, "GET", "/flavors/detail")
    micro = next(f for f in listed.body["flavors"] if f["name"] == "t2.micro")
    flavor_id = micro["id"]
    old = call(cloud, "GET", f"/flavors/{flavor_id}", version="2.1").body["flavor"]
    assert old["swap"] == "" and "description" not in old and "extra_specs" not in old
    assert old["rxtx_factor"] == 1.0 and old["OS-FLV-DISABLED:disabled"] is False
    assert old["links"][0]["rel"] == "self" and old["links"][0]["href"].endswith(f"/compute/v2.1/flavors/{flavor_id}")
    assert old["links"][1] == {"rel": "bookmark", "href": f"{cloud.base_url}/compute/flavors/{flavor_id}"}
    v255 = call(cloud, "GET", f"/flavors/{flavor_id}", version="2.55").body["flavor"]
    assert v255["description"] is None and "extra_specs" not in v255
    v261 = call(cloud, "GET", f"/flavors/{flavor_id}", version="2.61").body["flavor"]
    assert v261["extra_specs"] == {} and v261["swap"] == ""
    v275 = call(cloud, "GET", f"/flavors/{flavor_id}", version="2.75").body["flavor"]
    assert v275["swap"] == 0
    brief = call(cloud, "GET", "/flavors", version="2.55").body["flavors"]
    assert set(brief[0]) == {"id", "name", "links", "description"}
    assert set(call(cloud, "GET", "/flavors").body["flavors"][0]) == {"id", "name", "links"}
    answer = call(cloud, "GET", "/flavors", version="2.80")
    assert answer.status == 406


def test_description_update_needs_2_55(cloud: RunningCloud) -> None:
    flavor_id = call(cloud, "POST", "/flavors", {"flavor": {"name": unique("desc"), "ram": 64, "vcpus": 1,
                                                           "disk": 0}}).body["flavor"]["id"]
    try:
        body = {"flavor": {"description": "small"}}
        assert call(cloud, "PUT", f"/flavors/{flavor_id}", body, version="2.54").status == 404
        updated = call(cloud, "PUT", f"/flavors/{flavor_id}", body, version="2.55")
        assert updated.status == 200 and updated.body["flavor"]["description"] == "small"
        refused = call(cloud, "PUT", f"/flavors/{flavor_id}", {"flavor": {"name": "no"}}, version="2.55")
        assert refused.status == 400
    finally:
        call(cloud, "DELETE", f"/flavors/{flavor_id}")


# -- listing: filters, sorting, paging ------------------------------------------------


def test_filters_sorting_and_paging(cloud: RunningCloud) -> None:
    names = [f["name"] for f in call(cloud, "GET", "/flavors/detail?minRam=8192&sort_key=memory_mb").body["flavors"]]
    assert names[:3] == ["t2.large", "t2.xlarge", "t2.2xlarge"]
    names = [f["name"] for f in call(cloud, "GET", "/flavors/detail?minDisk=80&sort_key=root_gb&sort_dir=desc")
             .body["flavors"]]
    assert names[:2] == ["t2.2xlarge", "t2.xlarge"]
    first = call(cloud, "GET", "/flavors?limit=2&sort_key=name")
    assert len(first.body["flavors"]) == 2
    next_link = first.body["flavors_links"][0]
    assert next_link["rel"] == "next"
    marker = first.body["flavors"][-1]["id"]
    assert f"marker={marker}" in next_link["href"] and "limit=2" in next_link["href"]
    second = call(cloud, "GET", f"/flavors?limit=2&sort_key=name&marker={marker}")
    everything = [f["id"] for f in call(cloud, "GET", "/flavors?sort_key=name").body["flavors"]]
    assert [f["id"] for f in first.body["flavors"] + second.body["flavors"]] == everything[:4]
    bad = call(cloud, "GET", "/flavors?marker=nope")
    assert bad.status == 400 and bad.fault()["message"] == "marker [nope] not found"
    assert call(cloud, "GET", "/flavors?minRam=lots").fault()["message"] == "Invalid minRam filter [lots]"
    assert call(cloud, "GET", "/flavors?is_public=maybe").fault()["message"] == "Invalid is_public filter [maybe]"
    assert call(cloud, "GET", "/flavors?sort_key=colour").status == 400
    # Unknown query parameters are ignored before 2.75 and refused from 2.75.
    assert call(cloud, "GET", "/flavors?colour=red", version="2.74").status == 200
    assert call(cloud, "GET", "/flavors?colour=red", version="2.75").status == 400


# -- private flavors ---------------------------------------------------------------------


def test_private_flavor_access(cloud: RunningCloud, tenant: dict) -> None:
    name = unique("private")
    created = cloud.openstack_json("flavor", "create", name, "--vcpus", "1", "--ram", "256", "--disk", "1",
                                   "--private", "--project", tenant["project"])
    flavor_id = created["id"]
    assert created["os-flavor-access:is_public"] is False
    try:
        # The member of the project with access sees it; the admin lists it with --all.
        member_names = [f["Name"] for f in cloud.openstack_json("flavor", "list", "--all", env=tenant["env"])]
        assert name in member_names
        assert name not in [f["Name"] for f in cloud.openstack_json("flavor", "list", "--public")]
        assert name in [f["Name"] for f in cloud.openstack_json("flavor", "list", "--all")]
        assert name in [f["Name"] for f in cloud.openstack_json("flavor", "list", "--private")]
        shown = cloud.openstack_json("flavor", "show", name)
        assert shown["access_project_ids"] == [tenant["project_id"]]
        access = call(cloud, "GET", f"/flavors/{flavor_id}/os-flavor-access")
        assert access.body == {"flavor_access": [{"flavor_id": flavor_id, "tenant_id": tenant["project_id"]}]}
        again = call(cloud, "POST", f"/flavors/{flavor_id}/action",
                     {"addTenantAccess": {"tenant": tenant["project_id"]}})
        assert again.status == 409
        assert again.fault()["message"] == (f"Flavor access already exists for flavor {flavor_id} and project "
                                            f"{tenant['project_id']} combination.")
        bogus = call(cloud, "POST", f"/flavors/{flavor_id}/action", {"addTenantAccess": {"tenant": "nope"}})
        assert bogus.status == 400 and bogus.fault()["message"] == "Project ID nope is not a valid project."

        cloud.openstack("flavor", "unset", name, "--project", tenant["project"])
        assert name not in [f["Name"] for f in cloud.openstack_json("flavor", "list", "--all", env=tenant["env"])]
        hidden = call(cloud, "GET", f"/flavors/{flavor_id}", auth=tenant["token"])
        assert hidden.status == 404
        missing = call(cloud, "POST", f"/flavors/{flavor_id}/action",
                       {"removeTenantAccess": {"tenant": tenant["project_id"]}})
        assert missing.status == 404
        assert missing.fault()["message"] == (f"Flavor access not found for {flavor_id} / {tenant['project_id']} "
                                              "combination.")
    finally:
        cloud.openstack("flavor", "delete", name)


def test_access_list_of_a_public_flavor_and_unknown_action(cloud: RunningCloud) -> None:
    flavor_id = cloud.openstack_json("flavor", "show", "t2.nano")["id"]
    answer = call(cloud, "GET", f"/flavors/{flavor_id}/os-flavor-access")
    assert answer.status == 404 and answer.fault()["message"] == "Access list not available for public flavors."
    public = call(cloud, "POST", f"/flavors/{flavor_id}/action", {"addTenantAccess": {"tenant": "x"}}, version="2.7")
    assert public.status in (400, 409)
    unknown = call(cloud, "POST", f"/flavors/{flavor_id}/action", {"frobnicate": {}})
    assert unknown.status == 400 and unknown.fault()["message"] == "There is no such action: frobnicate"


# -- extra specs over HTTP ----------------------------------------------------------------


def test_extra_specs_crud(cloud: RunningCloud) -> None:
    flavor_id = call(cloud, "POST", "/flavors", {"flavor": {"name": unique("specs"), "ram": 64, "vcpus": 1,
                                                           "disk": 0}}).body["flavor"]["id"]
    base = f"/flavors/{flavor_id}/os-extra_specs"
    try:
        created = call(cloud, "POST", base, {"extra_specs": {"hw:numa_nodes": "1", "trait:X": "required"}})
        assert created.status == 200 and created.body == {"extra_specs": {"hw:numa_nodes": "1",
                                                                          "trait:X": "required"}}
        assert call(cloud, "GET", base).body == {"extra_specs": {"hw:numa_nodes": "1", "trait:X": "required"}}
        assert call(cloud, "GET", f"{base}/hw:numa_nodes").body == {"hw:numa_nodes": "1"}
        updated = call(cloud, "PUT", f"{base}/hw:numa_nodes", {"hw:numa_nodes": "2"})
        assert updated.body == {"hw:numa_nodes": "2"}
        mismatch = call(cloud, "PUT", f"{base}/hw:numa_nodes", {"other": "2"})
        assert mismatch.status == 400 and mismatch.fault()["message"] == "Request body and URI mismatch"
        assert call(cloud, "DELETE", f"{base}/trait:X").status == 200
        missing = call(cloud, "GET", f"{base}/trait:X")
        assert missing.status == 404
        assert missing.fault()["message"] == f"Flavor {flavor_id} has no extra specs with key trait:X."
        embedded = call(cloud, "GET", f"/flavors/{flavor_id}", version="2.61").body["flavor"]
        assert embedded["extra_specs"] == {"hw:numa_nodes": "2"}
    finally:
        call(cloud, "DELETE", f"/flavors/{flavor_id}")


# -- who may do what -------------------------------------------------------------------------


def test_member_cannot_manage_flavors(cloud: RunningCloud, tenant: dict) -> None:
    result = cloud.openstack("flavor", "create", unique("nope"), "--vcpus", "1", "--ram", "64", "--disk", "1",
                             env=tenant["env"], check=False)
    assert result.returncode != 0
    assert "Policy doesn't allow os_compute_api:os-flavor-manage:create to be performed." in result.stderr
    flavor_id = cloud.openstack_json("flavor", "show", "t2.nano")["id"]
    for method, path, body in (
        ("DELETE", f"/flavors/{flavor_id}", None),
        ("POST", f"/flavors/{flavor_id}/os-extra_specs", {"extra_specs": {"a": "b"}}),
        ("POST", f"/flavors/{flavor_id}/action", {"addTenantAccess": {"tenant": tenant["project_id"]}}),
    ):
        answer = call(cloud, method, path, body, auth=tenant["token"])
        assert answer.status == 403, (method, path, answer.body)
        assert "forbidden" in answer.body
    # Reading is allowed: members list flavors and their extra specs.
    assert call(cloud, "GET", f"/flavors/{flavor_id}/os-extra_specs", auth=tenant["token"]).status == 200
    assert "t2.nano" in [f["Name"] for f in cloud.openstack_json("flavor", "list", env=tenant["env"])]


# -- the flavor a server embeds ------------------------------------------------------------------


def _request(version: tuple[int, int]):  # type: ignore[no-untyped-def]
    from starlette.datastructures import Headers, QueryParams
    from starlette.requests import Request

    from gureum.compute.api.common import MICROVERSION_SCOPE_KEY
    from gureum.compute.microversion import Microversion
    from gureum.http.endpoint import ApiRequest

    scope = {"type": "http", "method": "GET", "scheme": "http", "server": ("controller", 8080),
             "root_path": "/compute", "path": "/compute/v2.1/servers/x", "query_string": b"", "headers": [],
             MICROVERSION_SCOPE_KEY: Microversion(*version)}
    return ApiRequest(request=Request(scope), cloud=None, ctx=None, path={}, query=QueryParams(""),  # type: ignore[arg-type]
                      headers=Headers(scope=scope))


def test_embedded_flavor_for_servers() -> None:
    from gureum.compute.api.flavors import embedded_flavor

    snapshot = {"id": "f1", "name": "t2.micro", "vcpus": 1, "ram": 1024, "disk": 8, "ephemeral": 0, "swap": 0,
                "rxtx_factor": 1.0, "extra_specs": {"hw:cpu_policy": "shared"}}
    assert embedded_flavor(snapshot, _request((2, 1)), show_extra_specs=True) == {
        "id": "f1", "links": [{"rel": "bookmark", "href": "http://controller:8080/compute/flavors/f1"}]}
    assert embedded_flavor(snapshot, _request((2, 47)), show_extra_specs=True) == {
        "vcpus": 1, "ram": 1024, "disk": 8, "ephemeral": 0, "swap": 0, "original_name": "t2.micro",
        "extra_specs": {"hw:cpu_policy": "shared"}}
    assert "extra_specs" not in embedded_flavor(snapshot, _request((2, 79)), show_extra_specs=False)
