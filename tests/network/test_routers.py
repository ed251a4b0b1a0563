"""Routers (router, ext-gw-mode, extraroute): the seed's walk with the real CLI, the rest over HTTP."""

from __future__ import annotations

from gureum.testing import RunningCloud
from tests.network.helpers import (
    call,
    external_network,
    member_token,
    ok,
    private_subnet,
    router,
    unique,
)


def test_seed_router_walk(cloud: RunningCloud) -> None:
    ext, ext_sub, priv, priv_sub, r1 = (unique(n) for n in ("ext-net", "ext-subnet", "private-net",
                                                            "private-subnet", "router1"))
    cloud.openstack("network", "create", ext, "--external", "--provider-physical-network", unique("provider"),
                    "--provider-network-type", "flat")
    cloud.openstack("subnet", "create", ext_sub, "--network", ext, "--no-dhcp", "--allocation-pool",
                    "start=192.168.100.20,end=192.168.100.50", "--gateway", "192.168.100.1", "--subnet-range",
                    "192.168.100.0/24")
    cloud.openstack("network", "create", priv)
    psub = cloud.openstack_json("subnet", "create", priv_sub, "--network", priv, "--subnet-range", "10.0.0.0/24",
                                "--gateway", "10.0.0.1", "--dns-nameserver", "8.8.8.8")
    created = cloud.openstack_json("router", "create", r1)
    assert created["status"] == "ACTIVE" and created["admin_state_up"] is True
    assert not created["external_gateway_info"]
    cloud.openstack("router", "set", r1, "--external-gateway", ext)
    cloud.openstack("router", "add", "subnet", r1, priv_sub)
    shown = cloud.openstack_json("router", "show", r1)
    gateway = shown["external_gateway_info"]
    assert gateway["enable_snat"] is True
    assert gateway["external_fixed_ips"][0]["ip_address"] == "192.168.100.20"
    assert shown["interfaces_info"] == [{"port_id": shown["interfaces_info"][0]["port_id"],
                                         "ip_address": "10.0.0.1", "subnet_id": psub["id"]}]
    leg = cloud.openstack_json("port", "show", shown["interfaces_info"][0]["port_id"])
    assert leg["device_owner"] == "network:router_interface" and leg["device_id"] == shown["id"]

    # In use: the subnet, the network and the router cannot go while attached; nor the leg by itself.
    for args, word in ((("subnet", "delete", priv_sub), "subnet"), (("network", "delete", priv), "network"),
                       (("router", "delete", r1), "router"), (("port", "delete", leg["id"]), "port")):
        result = cloud.openstack(*args, check=False)
        assert result.returncode != 0, args
    status, err = call(cloud, "DELETE", f"/v2.0/routers/{shown['id']}")
    assert status == 409 and err["NeutronError"]["type"] == "RouterInUse"
    status, err = call(cloud, "DELETE", f"/v2.0/ports/{leg['id']}")
    assert status == 409 and "cannot be deleted directly" in err["NeutronError"]["message"]

    cloud.openstack("router", "remove", "subnet", r1, priv_sub)
    cloud.openstack("router", "unset", "--external-gateway", r1)
    shown = cloud.openstack_json("router", "show", r1)
    assert not shown["external_gateway_info"] and not shown["interfaces_info"]
    ports = cloud.openstack_json("port", "list", "--device-id", shown["id"])
    assert ports == []
    cloud.openstack("router", "delete", r1)
    cloud.openstack("subnet", "delete", priv_sub)
    cloud.openstack("network", "delete", priv)
    cloud.openstack("subnet", "delete", ext_sub)
    cloud.openstack("network", "delete", ext)


def test_gateway_rules(cloud: RunningCloud, member_env: dict[str, str]) -> None:
    ext = external_network(cloud, 101)
    token = member_token(cloud, member_env)
    r = router(cloud, token, external_gateway_info={"network_id": ext.network_id})
    info = r["external_gateway_info"]
    assert info["network_id"] == ext.network_id and info["enable_snat"] is True
    assert info["external_fixed_ips"][0]["subnet_id"] == ext.subnet_id
    # subnet-external-network: members see the external subnet, marked as such.
    shown = ok(cloud, "GET", f"/v2.0/subnets?router:external=True&id={ext.subnet_id}", token=token)["subnets"]
    assert [s["router:external"] for s in shown] == [True]
    # The gateway port belongs to no project: only an admin sees it.
    assert ok(cloud, "GET", f"/v2.0/ports?device_id={r['id']}", token=token)["ports"] == []
    gw_ports = ok(cloud, "GET", f"/v2.0/ports?device_id={r['id']}&device_owner=network:router_gateway")["ports"]
    assert len(gw_ports) == 1 and gw_ports[0]["fixed_ips"] == info["external_fixed_ips"]
    # Only an admin turns SNAT off or picks the gateway's address.
    status, err = call(cloud, "PUT", f"/v2.0/routers/{r['id']}", {"router": {"external_gateway_info": {
        "network_id": ext.network_id, "enable_snat": False}}}, token)
    assert status == 403 and "disallowed by policy" in err["NeutronError"]["message"]
    updated = ok(cloud, "PUT", f"/v2.0/routers/{r['id']}", {"router": {"external_gateway_info": {
        "network_id": ext.network_id, "enable_snat": False}}})["router"]
    assert updated["external_gateway_info"]["enable_snat"] is False
    assert updated["external_gateway_info"]["external_fixed_ips"] == info["external_fixed_ips"]
    chosen = ok(cloud, "POST", "/v2.0/routers", {"router": {"external_gateway_info": {
        "network_id": ext.network_id, "external_fixed_ips": [{"ip_address": "192.168.101.77"}]}}})["router"]
    assert chosen["external_gateway_info"]["external_fixed_ips"][0]["ip_address"] == "192.168.101.77"
    status, err = call(cloud, "POST", "/v2.0/routers", {"router": {"external_gateway_info": {
        "network_id": ext.network_id, "external_fixed_ips": [{"ip_address": "192.168.101.77"}]}}})
    assert status == 409 and err["NeutronError"]["type"] == "IpAddressAlreadyAllocated"
    # Not external: 400; no such network: 404; junk: 400.
    plain = private_subnet(cloud, "10.30.0.0/24", token)
    for gateway, expected in (({"network_id": plain["network_id"]}, 400), ({"network_id": r["id"]}, 404),
                              ({"network_id": ext.network_id, "bogus": 1}, 400), ("x", 400),
                              ({"enable_snat": True}, 400)):
        status, err = call(cloud, "PUT", f"/v2.0/routers/{r['id']}",
                           {"router": {"external_gateway_info": gateway}}, token)
        assert status == expected, (gateway, status, err)
        assert err["NeutronError"]["message"]
    # {} removes the gateway and frees its address.
    cleared = ok(cloud, "PUT", f"/v2.0/routers/{r['id']}", {"router": {"external_gateway_info": {}}}, token)
    assert cleared["router"]["external_gateway_info"] is None
    assert ok(cloud, "GET", f"/v2.0/ports?device_id={r['id']}")["ports"] == []
    ok(cloud, "DELETE", f"/v2.0/routers/{chosen['id']}")
    ok(cloud, "DELETE", f"/v2.0/routers/{r['id']}", token=token)


def test_interfaces(cloud: RunningCloud, member_env: dict[str, str]) -> None:
    token = member_token(cloud, member_env)
    r = router(cloud, token)
    sub = private_subnet(cloud, "10.40.0.0/24", token)
    attached = ok(cloud, "PUT", f"/v2.0/routers/{r['id']}/add_router_interface", {"subnet_id": sub["id"]}, token)
    assert set(attached) == {"id", "tenant_id", "project_id", "port_id", "network_id", "subnet_id", "subnet_ids"}
    assert attached["subnet_id"] == sub["id"] and attached["network_id"] == sub["network_id"]
    leg = ok(cloud, "GET", f"/v2.0/ports/{attached['port_id']}", token=token)["port"]
    assert leg["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.40.0.1"}]
    assert leg["device_owner"] == "network:router_interface" and leg["security_groups"] == []
    # The same subnet twice, an overlapping subnet, a subnet without gateway: 400.
    overlapping = private_subnet(cloud, "10.40.0.0/25", token)
    no_gateway = private_subnet(cloud, "10.41.0.0/24", token, gateway_ip=None)
    for body in ({"subnet_id": sub["id"]}, {"subnet_id": overlapping["id"]}, {"subnet_id": no_gateway["id"]},
                 {}, {"subnet_id": sub["id"], "port_id": leg["id"]}, {"bogus": 1}, {"subnet_id": 7}):
        status, err = call(cloud, "PUT", f"/v2.0/routers/{r['id']}/add_router_interface", body, token)
        assert status == 400, (body, status, err)
    status, err = call(cloud, "PUT", f"/v2.0/routers/{r['id']}/add_router_interface", {"subnet_id": "nope"}, token)
    assert status == 404 and err["NeutronError"]["type"] == "SubnetNotFound"

    # By port: the port's own address; a port in use cannot be attached.
    other = private_subnet(cloud, "10.42.0.0/24", token)
    port = ok(cloud, "POST", "/v2.0/ports", {"port": {"network_id": other["network_id"]}}, token)["port"]
    by_port = ok(cloud, "PUT", f"/v2.0/routers/{r['id']}/add_router_interface", {"port_id": port["id"]}, token)
    assert by_port["port_id"] == port["id"] and by_port["subnet_id"] == other["id"]
    shown = ok(cloud, "GET", f"/v2.0/ports/{port['id']}", token=token)["port"]
    assert shown["device_id"] == r["id"] and shown["device_owner"] == "network:router_interface"
    r2 = router(cloud, token)
    status, err = call(cloud, "PUT", f"/v2.0/routers/{r2['id']}/add_router_interface", {"port_id": port["id"]},
                       token)
    assert status == 409 and err["NeutronError"]["type"] == "PortInUse"

    # The subnet of an attached interface cannot be deleted (409), nor the router.
    status, err = call(cloud, "DELETE", f"/v2.0/subnets/{sub['id']}", token=token)
    assert status == 409
    status, err = call(cloud, "DELETE", f"/v2.0/networks/{sub['network_id']}", token=token)
    assert status == 409
    # Removing what is not attached: 404; a port that does not match the subnet: 409.
    status, err = call(cloud, "PUT", f"/v2.0/routers/{r['id']}/remove_router_interface",
                       {"subnet_id": no_gateway["id"]}, token)
    assert status == 404 and err["NeutronError"]["type"] == "RouterInterfaceNotFoundForSubnet"
    status, err = call(cloud, "PUT", f"/v2.0/routers/{r2['id']}/remove_router_interface",
                       {"port_id": port["id"]}, token)
    assert status == 404 and err["NeutronError"]["type"] == "RouterInterfaceNotFound"
    status, err = call(cloud, "PUT", f"/v2.0/routers/{r['id']}/remove_router_interface",
                       {"port_id": port["id"], "subnet_id": sub["id"]}, token)
    assert status == 409 and err["NeutronError"]["type"] == "SubnetMismatchForPort"

    removed = ok(cloud, "PUT", f"/v2.0/routers/{r['id']}/remove_router_interface", {"port_id": port["id"]}, token)
    assert removed["port_id"] == port["id"] and removed["subnet_ids"] == [other["id"]]
    assert call(cloud, "GET", f"/v2.0/ports/{port['id']}", token=token)[0] == 404
    ok(cloud, "PUT", f"/v2.0/routers/{r['id']}/remove_router_interface", {"subnet_id": sub["id"]}, token)
    ok(cloud, "DELETE", f"/v2.0/subnets/{sub['id']}", token=token)
    ok(cloud, "DELETE", f"/v2.0/routers/{r['id']}", token=token)


def test_extra_routes(cloud: RunningCloud) -> None:
    r = router(cloud)
    sub = private_subnet(cloud, "10.50.0.0/24")
    ok(cloud, "PUT", f"/v2.0/routers/{r['id']}/add_router_interface", {"subnet_id": sub["id"]})
    status, err = call(cloud, "PUT", f"/v2.0/routers/{r['id']}", {"router": {"routes": [
        {"destination": "172.16.0.0/16", "nexthop": "10.99.0.5"}]}})
    assert status == 400 and err["NeutronError"]["type"] == "InvalidRoutes"
    assert "nexthop is not connected" in err["NeutronError"]["message"]
    for bad in ([{"destination": "nope", "nexthop": "10.50.0.5"}], [{"destination": "172.16.0.0/16"}],
                [{"destination": "172.16.0.0/16", "nexthop": "10.50.0.1"}], "x", [7]):
        status, err = call(cloud, "PUT", f"/v2.0/routers/{r['id']}", {"router": {"routes": bad}})
        assert status == 400, (bad, status, err)
    routes = [{"destination": "172.16.0.0/16", "nexthop": "10.50.0.5"}]
    updated = ok(cloud, "PUT", f"/v2.0/routers/{r['id']}", {"router": {"routes": routes}})["router"]
    assert updated["routes"] == routes
    # The interface a route needs cannot be removed.
    status, err = call(cloud, "PUT", f"/v2.0/routers/{r['id']}/remove_router_interface", {"subnet_id": sub["id"]})
    assert status == 409 and err["NeutronError"]["type"] == "RouterInterfaceInUse"
    more = ok(cloud, "PUT", f"/v2.0/routers/{r['id']}/add_extraroutes", {"router": {"routes": [
        {"destination": "172.17.0.0/16", "nexthop": "10.50.0.6"}]}})["router"]
    assert len(more["routes"]) == 2
    fewer = ok(cloud, "PUT", f"/v2.0/routers/{r['id']}/remove_extraroutes", {"router": {"routes": routes}})
    assert fewer["router"]["routes"] == [{"destination": "172.17.0.0/16", "nexthop": "10.50.0.6"}]
    cleared = ok(cloud, "PUT", f"/v2.0/routers/{r['id']}", {"router": {"routes": None}})["router"]
    assert cleared["routes"] == []
    ok(cloud, "PUT", f"/v2.0/routers/{r['id']}/remove_router_interface", {"subnet_id": sub["id"]})
    ok(cloud, "DELETE", f"/v2.0/routers/{r['id']}")


def test_list_filters_quota_and_bad_bodies(cloud: RunningCloud, member_env: dict[str, str]) -> None:
    token = member_token(cloud, member_env)
    name = unique("flt")
    a = router(cloud, token, name=name, admin_state_up=False)
    router(cloud, token)
    listed = ok(cloud, "GET", f"/v2.0/routers?name={name}&fields=id&fields=admin_state_up", token=token)["routers"]
    assert listed == [{"id": a["id"], "admin_state_up": False}]
    assert ok(cloud, "GET", "/v2.0/routers?admin_state_up=False", token=token)["routers"][0]["id"] == a["id"]
    paged = ok(cloud, "GET", "/v2.0/routers?limit=1", token=token)
    assert len(paged["routers"]) == 1 and paged["routers_links"][0]["rel"] == "next"
    # Another project's routers are neither listed nor found.
    admins = router(cloud)
    assert admins["id"] not in [r["id"] for r in ok(cloud, "GET", "/v2.0/routers", token=token)["routers"]]
    status, err = call(cloud, "GET", f"/v2.0/routers/{admins['id']}", token=token)
    assert status == 404 and err["NeutronError"]["type"] == "RouterNotFound"
    for body in ({"router": {"name": 7}}, {"router": {"admin_state_up": "maybe"}}, {"router": {"distributed": True}},
                 {"router": {"routes": []}}, {"routers": {}}, [1], {"router": {"availability_zone_hints": ["x"]}}):
        status, err = call(cloud, "POST", "/v2.0/routers", body, token)
        assert 400 <= status < 500, (body, status, err)
    project = member_env["OS_PROJECT_NAME"]
    cloud.openstack("quota", "set", "--routers", "2", project)
    status, err = call(cloud, "POST", "/v2.0/routers", {"router": {"name": "third"}}, token)
    assert status == 409 and "['router']" in err["NeutronError"]["message"]
    quota = ok(cloud, "GET", f"/v2.0/quotas/{a['project_id']}/details", token=token)["quota"]
    assert quota["router"]["used"] == 2 and quota["router"]["limit"] == 2
