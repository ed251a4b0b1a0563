"""Security groups through compute: Nova's add/removeSecurityGroup and os-security-groups on a real guest."""

from __future__ import annotations

import subprocess

from gureum import testing
from gureum.testing import RunningCloud, wait_for
from tests.compute.nova_api import call, user_token
from tests.conftest import unique

RARE_PORT = 4242  # a rule only the test's group has: its presence in nft says the agent applied the group


def _firewall_has_rare_port(cloud: RunningCloud) -> bool:
    """Whether the nft rules in the namespaces of the cloud's agent open RARE_PORT."""
    prefix = testing.test_name_prefix(cloud.state_dir)
    names = subprocess.run(["ip", "netns", "list"], check=False, capture_output=True, text=True).stdout.split()
    for namespace in [n for n in names if n.startswith(prefix)]:
        rules = subprocess.run(["ip", "netns", "exec", namespace, "nft", "list", "ruleset"], check=False,
                               capture_output=True, text=True).stdout
        if f"dport {RARE_PORT}" in rules:
            return True
    return False


def _groups_shown(cloud: RunningCloud, server_id: str, token: str) -> list[str] | None:
    server = call(cloud, "GET", f"/servers/{server_id}", auth=token).body["server"]
    return None if "security_groups" not in server else [g["name"] for g in server["security_groups"]]


def test_add_and_remove_security_group(cloud: RunningCloud, guest_image: str, member_env: dict[str, str]) -> None:
    env = member_env
    token = user_token(cloud, env)
    net = unique("sgnet")
    cloud.openstack("network", "create", net, env=env)
    cloud.openstack("subnet", "create", unique("sgsub"), "--network", net, "--subnet-range", "10.81.0.0/24", env=env)
    web = unique("web")
    group = cloud.openstack_json("security", "group", "create", web, env=env)
    cloud.openstack("security", "group", "rule", "create", "--proto", "tcp", "--dst-port", str(RARE_PORT),
                    "--remote-ip", "192.0.2.0/24", web, env=env)
    name = unique("sgvm")
    server = cloud.openstack_json("server", "create", "--flavor", "t2.nano", "--image", "gureum-guest",
                                  "--nic", f"net-id={net}", "--wait", name, env=env)
    server_id = server["id"]
    assert _groups_shown(cloud, server_id, token) == ["default"]

    # The real CLI, by name; then again by id (the group is on the port once).
    cloud.openstack("server", "add", "security", "group", name, web, env=env)
    cloud.openstack("server", "add", "security", "group", name, group["id"], env=env)
    assert _groups_shown(cloud, server_id, token) == ["default", web]
    port = cloud.openstack_json("port", "list", "--server", server_id, "--long", env=env)[0]
    shown_port = cloud.openstack_json("port", "show", port["ID"], env=env)
    assert group["id"] in shown_port["security_group_ids"] and len(shown_port["security_group_ids"]) == 2
    wait_for(lambda: _firewall_has_rare_port(cloud), 60, 1, "the group's rule in the firewall")

    listed = call(cloud, "GET", f"/servers/{server_id}/os-security-groups", auth=token)
    assert listed.status == 200
    groups = {g["name"]: g for g in listed.body["security_groups"]}
    assert set(groups) == {"default", web}
    assert set(groups[web]) == {"id", "name", "description", "tenant_id", "rules"}
    (rule,) = groups[web]["rules"]  # ingress only: the egress rules are not shown, as in Nova
    assert rule == {"id": rule["id"], "parent_group_id": group["id"], "ip_protocol": "tcp",
                    "from_port": RARE_PORT, "to_port": RARE_PORT, "group": {}, "ip_range": {"cidr": "192.0.2.0/24"}}
    default_rules = groups["default"]["rules"]
    assert default_rules and all(r["group"] == {"name": "default", "tenant_id": groups["default"]["tenant_id"]}
                                 and r["ip_range"] == {} for r in default_rules)

    # Nova's answers for what cannot be done.
    unknown = call(cloud, "POST", f"/servers/{server_id}/action", {"addSecurityGroup": {"name": "nope"}}, auth=token)
    assert unknown.status == 404 and "nope is not found" in unknown.fault()["message"]
    for body in ({"addSecurityGroup": {}}, {"addSecurityGroup": {"name": " "}}, {"addSecurityGroup": None},
                 {"removeSecurityGroup": {"name": 7}}):
        answer = call(cloud, "POST", f"/servers/{server_id}/action", body, auth=token)
        assert answer.status == 400, (body, answer.body)

    cloud.openstack("server", "remove", "security", "group", name, web, env=env)
    assert _groups_shown(cloud, server_id, token) == ["default"]
    wait_for(lambda: not _firewall_has_rare_port(cloud), 60, 1, "the group's rule gone")
    again = cloud.openstack("server", "remove", "security", "group", name, web, env=env, check=False)
    assert again.returncode != 0 and "not associated" in again.stderr
    # Removing the last group leaves none: Nova then shows no security_groups at all.
    cloud.openstack("server", "remove", "security", "group", name, "default", env=env)
    assert _groups_shown(cloud, server_id, token) is None
    assert call(cloud, "GET", f"/servers/{server_id}/os-security-groups", auth=token).body == {"security_groups": []}
    listed_servers = call(cloud, "GET", "/servers/detail", auth=token).body["servers"]
    assert "security_groups" not in next(s for s in listed_servers if s["id"] == server_id)

    # A group on a server holds its group: neutron refuses to delete it (409) until it is removed.
    cloud.openstack("server", "add", "security", "group", name, web, env=env)
    in_use = cloud.openstack("security", "group", "delete", web, env=env, check=False)
    assert in_use.returncode != 0 and "in use" in in_use.stderr
    cloud.openstack("server", "delete", "--wait", name, env=env)
    cloud.openstack("security", "group", "delete", web, env=env)


def test_server_without_ports_or_port_security(cloud: RunningCloud, guest_image: str,
                                               member_env: dict[str, str]) -> None:
    env = member_env
    token = user_token(cloud, env)
    bare = unique("noport")
    server = cloud.openstack_json("server", "create", "--flavor", "t2.nano", "--image", "gureum-guest", "--nic",
                                  "none", "--wait", bare, env=env)
    # No ports: what was asked at create is what there is to show.
    assert _groups_shown(cloud, server["id"], token) == ["default"]
    answer = call(cloud, "POST", f"/servers/{server['id']}/action", {"addSecurityGroup": {"name": "default"}},
                  auth=token)
    assert answer.status == 404 and "could not be found as device id on any ports" in answer.fault()["message"]
    assert call(cloud, "GET", f"/servers/{server['id']}/os-security-groups", auth=token).body == {
        "security_groups": []}

    # A port without port security takes no group: Nova's 400, and the port stays as it was.
    net = unique("nopsec")
    cloud.openstack("network", "create", net, env=env)
    cloud.openstack("subnet", "create", unique("s"), "--network", net, "--subnet-range", "10.82.0.0/24", env=env)
    port = cloud.openstack_json("port", "create", "--network", net, "--disable-port-security", "--no-security-group",
                                unique("p"), env=env)
    plain = unique("plain")
    server = cloud.openstack_json("server", "create", "--flavor", "t2.nano", "--image", "gureum-guest", "--nic",
                                  f"port-id={port['id']}", "--wait", plain, env=env)
    assert _groups_shown(cloud, server["id"], token) is None
    answer = call(cloud, "POST", f"/servers/{server['id']}/action", {"addSecurityGroup": {"name": "default"}},
                  auth=token)
    assert answer.status == 400 and "port_security_enabled" in answer.fault()["message"]
    assert cloud.openstack_json("port", "show", port["id"], env=env)["security_group_ids"] == []
    missing = call(cloud, "GET", "/servers/not-a-server/os-security-groups", auth=token)
    assert missing.status == 404
    cloud.openstack("server", "delete", "--wait", bare, plain, env=env)
