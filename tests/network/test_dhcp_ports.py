"""gureum's own DHCP ports never keep a subnet or network in use (neutron's auto-delete owners)."""

from __future__ import annotations

from gureum.testing import RunningCloud, wait_for
from tests.network.helpers import call, ok, private_subnet, unique

DHCP_OWNER = "network:dhcp"


def agent_host(cloud: RunningCloud) -> str:
    agents = wait_for(lambda: ok(cloud, "GET", "/v2.0/agents")["agents"], 120, 1, "the host's agent to register")
    return agents[0]["host"]


def dhcp_ports(cloud: RunningCloud, network_id: str) -> list[dict]:
    return ok(cloud, "GET", f"/v2.0/ports?network_id={network_id}&device_owner={DHCP_OWNER}")["ports"]


def test_the_host_dhcp_port_goes_with_its_subnet_and_network(cloud: RunningCloud) -> None:
    """The defect: the host's DHCP port held an address until a later agent report, so delete was 409."""
    host = agent_host(cloud)
    subnet = private_subnet(cloud, "10.231.0.0/24")
    network_id = subnet["network_id"]
    guest = ok(cloud, "POST", "/v2.0/ports", {"port": {
        "network_id": network_id, "device_owner": "compute:nova", "device_id": unique("server"),
        "binding:host_id": host}})["port"]
    # The host's report gives it a DHCP port on the network, with an address on the subnet.
    dhcp = wait_for(lambda: [p for p in dhcp_ports(cloud, network_id) if p["fixed_ips"]], 60, 0.5,
                    "the host's DHCP port")[0]
    assert dhcp["fixed_ips"][0]["subnet_id"] == subnet["id"] and dhcp["binding:host_id"] == host
    ok(cloud, "DELETE", f"/v2.0/ports/{guest['id']}")
    # At once, before any report: the subnet goes and takes the DHCP port's address (and port) with it.
    status, body = call(cloud, "DELETE", f"/v2.0/subnets/{subnet['id']}")
    assert status == 204, body
    status, _ = call(cloud, "GET", f"/v2.0/ports/{dhcp['id']}")
    assert status == 404
    status, body = call(cloud, "DELETE", f"/v2.0/networks/{network_id}")
    assert status == 204, body


def test_a_user_port_still_keeps_the_subnet_in_use(cloud: RunningCloud) -> None:
    subnet = private_subnet(cloud, "10.232.0.0/24")
    port = ok(cloud, "POST", "/v2.0/ports", {"port": {"network_id": subnet["network_id"]}})["port"]
    ok(cloud, "POST", "/v2.0/ports", {"port": {"network_id": subnet["network_id"], "device_owner": DHCP_OWNER}})
    status, body = call(cloud, "DELETE", f"/v2.0/subnets/{subnet['id']}")
    assert status == 409 and body["NeutronError"]["type"] == "SubnetInUse"
    status, body = call(cloud, "DELETE", f"/v2.0/networks/{subnet['network_id']}")
    assert status == 409 and body["NeutronError"]["type"] == "NetworkInUse"
    # Refused as a whole: the DHCP port is still there.
    assert len(dhcp_ports(cloud, subnet["network_id"])) == 1
    ok(cloud, "DELETE", f"/v2.0/ports/{port['id']}")
    status, body = call(cloud, "DELETE", f"/v2.0/networks/{subnet['network_id']}")
    assert status == 204, body
    assert dhcp_ports(cloud, subnet["network_id"]) == []


def test_slaac_addresses_go_with_their_subnet(cloud: RunningCloud) -> None:
    net = ok(cloud, "POST", "/v2.0/networks", {"network": {"name": unique("net6")}})["network"]
    v6 = ok(cloud, "POST", "/v2.0/subnets", {"subnet": {
        "network_id": net["id"], "ip_version": 6, "cidr": "fd00:233::/64", "ipv6_ra_mode": "slaac",
        "ipv6_address_mode": "slaac"}})["subnet"]
    v4 = ok(cloud, "POST", "/v2.0/subnets", {"subnet": {
        "network_id": net["id"], "ip_version": 4, "cidr": "10.233.0.0/24"}})["subnet"]
    port = ok(cloud, "POST", "/v2.0/ports", {"port": {"network_id": net["id"], "fixed_ips": [
        {"subnet_id": v4["id"]}, {"subnet_id": v6["id"]}]}})["port"]
    assert {f["subnet_id"] for f in port["fixed_ips"]} == {v4["id"], v6["id"]}
    status, body = call(cloud, "DELETE", f"/v2.0/subnets/{v6['id']}")
    assert status == 204, body
    after = ok(cloud, "GET", f"/v2.0/ports/{port['id']}")["port"]
    assert [f["subnet_id"] for f in after["fixed_ips"]] == [v4["id"]]
    assert after["revision_number"] > port["revision_number"]
    # The IPv4 address is the user's: that subnet stays in use.
    status, body = call(cloud, "DELETE", f"/v2.0/subnets/{v4['id']}")
    assert status == 409 and body["NeutronError"]["type"] == "SubnetInUse"


def test_cli_deletes_a_network_whose_dhcp_port_holds_an_address(cloud: RunningCloud) -> None:
    net, sub = unique("net"), unique("sub")
    cloud.openstack_json("network", "create", net)
    cloud.openstack_json("subnet", "create", sub, "--network", net, "--subnet-range", "10.234.0.0/24")
    dhcp = cloud.openstack_json("port", "create", "--network", net, "--device-owner", DHCP_OWNER, unique("dhcp"))
    assert dhcp["fixed_ips"]
    cloud.openstack("subnet", "delete", sub)
    assert cloud.openstack("port", "show", dhcp["id"], check=False).returncode != 0
    cloud.openstack_json("port", "create", "--network", net, "--device-owner", DHCP_OWNER, unique("dhcp"))
    cloud.openstack("network", "delete", net)
    assert cloud.openstack("network", "show", net, check=False).returncode != 0
