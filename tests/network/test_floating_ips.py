"""Floating IPs: the seed's commands with the real CLI, the rules and the races over HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gureum.testing import RunningCloud
from tests.network.helpers import (
    External,
    call,
    external_network,
    member_token,
    ok,
    private_subnet,
    router,
    unique,
)


def routed_port(cloud: RunningCloud, ext: External, cidr: str, token: str | None = None) -> tuple[dict, dict]:
    """A port on a subnet behind a router whose gateway is on ext: (router, port)."""
    sub = private_subnet(cloud, cidr, token)
    r = router(cloud, token, external_gateway_info={"network_id": ext.network_id})
    ok(cloud, "PUT", f"/v2.0/routers/{r['id']}/add_router_interface", {"subnet_id": sub["id"]}, token)
    port = ok(cloud, "POST", "/v2.0/ports", {"port": {"network_id": sub["network_id"]}}, token)["port"]
    return r, port


def test_seed_floating_ip_walk(cloud: RunningCloud, member_env: dict[str, str]) -> None:
    ext = external_network(cloud, 110)
    token = member_token(cloud, member_env)
    r, port = routed_port(cloud, ext, "10.0.0.0/24", token)
    fip = cloud.openstack_json("floating", "ip", "create", ext.name, env=member_env)
    address = fip["floating_ip_address"]
    # The router's gateway took the pool's first address (.20): the floating IP has the next.
    assert address == "192.168.110.21" and fip["status"] == "DOWN"
    assert fip["port_id"] is None and fip["router_id"] is None
    cloud.openstack("floating", "ip", "set", "--port", port["id"], address, env=member_env)
    shown = cloud.openstack_json("floating", "ip", "show", address, env=member_env)
    assert shown["port_id"] == port["id"] and shown["router_id"] == r["id"]
    assert shown["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"]
    assert shown["port_details"]["mac_address"] == port["mac_address"]
    listed = cloud.openstack_json("floating", "ip", "list", env=member_env)
    assert [(f["Floating IP Address"], f["Port"]) for f in listed] == [(address, port["id"])]
    cloud.openstack("floating", "ip", "unset", "--port", address, env=member_env)
    shown = cloud.openstack_json("floating", "ip", "show", address, env=member_env)
    assert shown["port_id"] is None and shown["fixed_ip_address"] is None and shown["router_id"] is None
    # The floating IP's address is held by a port of no project: the admin sees it, the member does not.
    held = ok(cloud, "GET", f"/v2.0/ports?device_id={fip['id']}")["ports"]
    assert held[0]["device_owner"] == "network:floatingip" and held[0]["fixed_ips"][0]["ip_address"] == address
    assert ok(cloud, "GET", f"/v2.0/ports?device_id={fip['id']}", token=token)["ports"] == []
    cloud.openstack("floating", "ip", "delete", address, env=member_env)
    assert ok(cloud, "GET", f"/v2.0/ports?device_id={fip['id']}")["ports"] == []
    # The address is free again.
    again = ok(cloud, "POST", "/v2.0/floatingips", {"floatingip": {"floating_network_id": ext.network_id}}, token)
    assert again["floatingip"]["floating_ip_address"] == address


def test_association_rules(cloud: RunningCloud, member_env: dict[str, str]) -> None:
    ext = external_network(cloud, 111)
    token = member_token(cloud, member_env)
    r, port = routed_port(cloud, ext, "10.60.0.0/24", token)
    created = ok(cloud, "POST", "/v2.0/floatingips", {"floatingip": {
        "floating_network_id": ext.network_id, "port_id": port["id"]}}, token)["floatingip"]
    assert created["router_id"] == r["id"] and created["fixed_ip_address"] == port["fixed_ips"][0]["ip_address"]
    assert created["status"] == "DOWN"
    # That fixed IP already has a floating IP on this network.
    status, err = call(cloud, "POST", "/v2.0/floatingips", {"floatingip": {
        "floating_network_id": ext.network_id, "port_id": port["id"]}}, token)
    assert status == 409 and err["NeutronError"]["type"] == "FloatingIPPortAlreadyAssociated"
    # A port on a subnet no router connects to the external network: 404, as neutron.
    lonely = private_subnet(cloud, "10.61.0.0/24", token)
    lonely_port = ok(cloud, "POST", "/v2.0/ports", {"port": {"network_id": lonely["network_id"]}}, token)["port"]
    status, err = call(cloud, "PUT", f"/v2.0/floatingips/{created['id']}", {"floatingip": {
        "port_id": lonely_port["id"]}}, token)
    assert status == 404 and err["NeutronError"]["type"] == "ExternalGatewayForFloatingIPNotFound"
    # Not an external network: 400; the member may not choose the address: 403.
    status, err = call(cloud, "POST", "/v2.0/floatingips", {"floatingip": {
        "floating_network_id": lonely["network_id"]}}, token)
    assert status == 400 and "external network" in err["NeutronError"]["message"]
    status, err = call(cloud, "POST", "/v2.0/floatingips", {"floatingip": {
        "floating_network_id": ext.network_id, "floating_ip_address": "192.168.111.40"}}, token)
    assert status == 403
    chosen = ok(cloud, "POST", "/v2.0/floatingips", {"floatingip": {
        "floating_network_id": ext.network_id, "floating_ip_address": "192.168.111.40"}})["floatingip"]
    assert chosen["floating_ip_address"] == "192.168.111.40"
    status, err = call(cloud, "POST", "/v2.0/floatingips", {"floatingip": {
        "floating_network_id": ext.network_id, "floating_ip_address": "192.168.111.40"}})
    assert status == 409 and err["NeutronError"]["type"] == "IpAddressAlreadyAllocated"
    # Bad input: 4xx naming what is wrong, never a 5xx.
    for body in ({"floatingip": {}}, {"floatingip": {"floating_network_id": 7}},
                 {"floatingip": {"floating_network_id": ext.network_id, "port_id": "nope"}},
                 {"floatingip": {"floating_network_id": ext.network_id, "floating_ip_address": "x"}},
                 {"floatingip": {"floating_network_id": ext.network_id, "subnet_id": "nope"}},
                 {"floatingip": {"floating_network_id": ext.network_id, "port_id": port["id"],
                                 "fixed_ip_address": "10.9.9.9"}},
                 {"floatingip": {"floating_network_id": ext.network_id, "bogus": 1}}, {"x": 1}):
        status, err = call(cloud, "POST", "/v2.0/floatingips", body)
        assert 400 <= status < 500, (body, status, err)
    # The router's interface and gateway cannot go while the floating IP needs them.
    status, err = call(cloud, "PUT", f"/v2.0/routers/{r['id']}", {"router": {"external_gateway_info": {}}}, token)
    assert status == 409 and err["NeutronError"]["type"] == "RouterExternalGatewayInUseByFloatingIp"
    status, err = call(cloud, "PUT", f"/v2.0/routers/{r['id']}/remove_router_interface",
                       {"subnet_id": port["fixed_ips"][0]["subnet_id"]}, token)
    assert status == 409 and err["NeutronError"]["type"] == "RouterInterfaceInUseByFloatingIP"
    # Deleting the associated port disassociates the floating IP.
    ok(cloud, "DELETE", f"/v2.0/ports/{port['id']}", token=token)
    shown = ok(cloud, "GET", f"/v2.0/floatingips/{created['id']}", token=token)["floatingip"]
    assert (shown["port_id"], shown["fixed_ip_address"], shown["router_id"]) == (None, None, None)
    # Filters and fields as on any neutron list.
    listed = ok(cloud, "GET", f"/v2.0/floatingips?floating_ip_address={created['floating_ip_address']}"
                              "&fields=id&fields=status", token=token)["floatingips"]
    assert listed == [{"id": created["id"], "status": "DOWN"}]
    assert call(cloud, "GET", f"/v2.0/floatingips/{chosen['id']}", token=token)[0] == 404
    assert call(cloud, "GET", f"/v2.0/floatingips/{created['floating_ip_address']}", token=token)[0] == 404


def test_50_concurrent_creates_never_share_an_address(cloud: RunningCloud, member_env: dict[str, str]) -> None:
    ext = external_network(cloud, 112, pool=(10, 64))
    # Above the default 50, so the pool runs out before the quota does.
    cloud.openstack("quota", "set", "--floating-ips", "100", member_env["OS_PROJECT_NAME"])
    token = member_token(cloud, member_env)

    def create(_: int) -> tuple[int, Any]:
        return call(cloud, "POST", "/v2.0/floatingips", {"floatingip": {"floating_network_id": ext.network_id}},
                    token)

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(create, range(50)))
    assert all(status == 201 for status, _ in results), [r for r in results if r[0] != 201][:3]
    addresses = [body["floatingip"]["floating_ip_address"] for _, body in results]
    assert len(set(addresses)) == 50
    # 55 pool addresses: 5 more fit, the sixth fails cleanly.
    more = [create(0) for _ in range(6)]
    assert [s for s, _ in more] == [201, 201, 201, 201, 201, 409]
    assert more[-1][1]["NeutronError"]["type"] == "IpAddressGenerationFailure"
    for _, body in results + more[:5]:
        ok(cloud, "DELETE", f"/v2.0/floatingips/{body['floatingip']['id']}", token=token)


def test_floating_ip_quota(cloud: RunningCloud, member_env: dict[str, str]) -> None:
    ext = external_network(cloud, 113)
    token = member_token(cloud, member_env)
    cloud.openstack("quota", "set", "--floating-ips", "1", member_env["OS_PROJECT_NAME"])
    ok(cloud, "POST", "/v2.0/floatingips", {"floatingip": {"floating_network_id": ext.network_id,
                                                             "description": unique("d")}}, token)
    status, err = call(cloud, "POST", "/v2.0/floatingips", {"floatingip": {"floating_network_id": ext.network_id}},
                       token)
    assert status == 409 and "['floatingip']" in err["NeutronError"]["message"]


def test_external_network_deleted_with_its_unassociated_floating_ips(cloud: RunningCloud) -> None:
    ext = external_network(cloud, 114)
    fip = ok(cloud, "POST", "/v2.0/floatingips", {"floatingip": {"floating_network_id": ext.network_id}})
    ok(cloud, "DELETE", f"/v2.0/networks/{ext.network_id}")
    assert call(cloud, "GET", f"/v2.0/floatingips/{fip['floatingip']['id']}")[0] == 404
    assert call(cloud, "GET", f"/v2.0/subnets/{ext.subnet_id}")[0] == 404
