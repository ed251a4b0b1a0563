"""Neutron bulk create: POST a plural body, get every resource or none of them."""

from __future__ import annotations

from gureum.testing import RunningCloud
from tests.network.helpers import call, member_token, ok, unique


def _names(cloud: RunningCloud, collection: str, token: str | None = None) -> set[str]:
    return {item["name"] for item in ok(cloud, "GET", f"/v2.0/{collection}", token=token)[collection]}


def test_bulk_networks_subnets_ports(cloud: RunningCloud) -> None:
    names = [unique("bulk-net"), unique("bulk-net")]
    status, body = call(cloud, "POST", "/v2.0/networks", {"networks": [{"name": names[0]}, {"name": names[1]}]})
    assert status == 201 and [n["name"] for n in body["networks"]] == names
    nets = body["networks"]
    assert all(n["status"] == "ACTIVE" and n["subnets"] == [] for n in nets)
    assert len({n["provider:segmentation_id"] for n in nets}) == 2
    # Items wrapped in their singular key are accepted too, as neutron does.
    status, body = call(cloud, "POST", "/v2.0/subnets", {"subnets": [
        {"subnet": {"network_id": nets[0]["id"], "cidr": "10.71.1.0/24", "ip_version": 4}},
        {"network_id": nets[1]["id"], "cidr": "10.71.2.0/24", "ip_version": 4, "name": "second"},
        {"network_id": nets[1]["id"], "cidr": "fd00:71::/64", "ip_version": 6}]})
    assert status == 201, body
    subnets = body["subnets"]
    assert [s["cidr"] for s in subnets] == ["10.71.1.0/24", "10.71.2.0/24", "fd00:71::/64"]
    assert subnets[1]["name"] == "second" and subnets[0]["gateway_ip"] == "10.71.1.1"
    status, body = call(cloud, "POST", "/v2.0/ports", {"ports": [
        {"network_id": nets[0]["id"], "name": "a"}, {"network_id": nets[0]["id"], "name": "b"},
        {"network_id": nets[1]["id"], "name": "c"}]})
    assert status == 201, body
    ports = body["ports"]
    assert [p["name"] for p in ports] == ["a", "b", "c"]
    addresses = [p["fixed_ips"][0]["ip_address"] for p in ports]
    assert len(set(addresses)) == 3 and len({p["mac_address"] for p in ports}) == 3
    for port in ports:
        ok(cloud, "DELETE", f"/v2.0/ports/{port['id']}")
    for net in nets:
        ok(cloud, "DELETE", f"/v2.0/networks/{net['id']}")


def test_bulk_is_all_or_nothing(cloud: RunningCloud) -> None:
    good, other = unique("bulk-ok"), unique("bulk-ok")
    # A bad attribute in the last item: its 400, and the good items before it are not made.
    status, body = call(cloud, "POST", "/v2.0/networks", {"networks": [
        {"name": good}, {"name": other}, {"name": unique("bad"), "admin_state_up": "perhaps"}]})
    assert status == 400 and "admin_state_up" in body["NeutronError"]["message"]
    assert not {good, other} & _names(cloud, "networks")
    net = ok(cloud, "POST", "/v2.0/networks", {"network": {"name": unique("bulk-net")}})["network"]
    # Two subnets that overlap each other: the second's 400, neither stays.
    status, body = call(cloud, "POST", "/v2.0/subnets", {"subnets": [
        {"network_id": net["id"], "cidr": "10.72.0.0/24", "ip_version": 4},
        {"network_id": net["id"], "cidr": "10.72.0.0/25", "ip_version": 4}]})
    assert status == 400 and "overlaps" in body["NeutronError"]["message"]
    assert ok(cloud, "GET", f"/v2.0/networks/{net['id']}")["network"]["subnets"] == []
    # A port on an unknown network: 404, and the port before it is not made.
    port_name = unique("bulk-port")
    status, body = call(cloud, "POST", "/v2.0/ports", {"ports": [
        {"network_id": net["id"], "name": port_name}, {"network_id": "no-such-network"}]})
    assert status == 404 and body["NeutronError"]["type"] == "NetworkNotFound"
    assert port_name not in _names(cloud, "ports")
    ok(cloud, "DELETE", f"/v2.0/networks/{net['id']}")


def test_bulk_over_quota_makes_nothing(cloud: RunningCloud, member_env: dict[str, str]) -> None:
    token = member_token(cloud, member_env)
    project = ok(cloud, "GET", "/v2.0/networks", token=token)  # the member's project exists and works
    assert "networks" in project
    project_id = cloud.openstack_json("project", "show", member_env["OS_PROJECT_NAME"])["id"]
    ok(cloud, "PUT", f"/v2.0/quotas/{project_id}", {"quota": {"network": 2}})
    names = [unique("q") for _ in range(3)]
    status, body = call(cloud, "POST", "/v2.0/networks", {"networks": [{"name": n} for n in names]}, token)
    assert status == 409 and body["NeutronError"]["type"] == "OverQuota"
    assert not set(names) & _names(cloud, "networks", token)
    status, body = call(cloud, "POST", "/v2.0/networks", {"networks": [{"name": n} for n in names[:2]]}, token)
    assert status == 201 and len(body["networks"]) == 2


def test_bulk_bad_bodies(cloud: RunningCloud) -> None:
    for body in ({"networks": []}, {"networks": {"name": "x"}}, {"networks": ["x"]}, {"networks": None},
                 {"networks": [{"name": "ok"}, 3]}):
        status, answer = call(cloud, "POST", "/v2.0/networks", body)
        assert status == 400 and answer["NeutronError"]["type"] == "HTTPBadRequest", (body, answer)
    status, answer = call(cloud, "POST", "/v2.0/ports", {"ports": [{"name": "no network"}]})
    assert status == 400 and "network_id" in answer["NeutronError"]["message"]
