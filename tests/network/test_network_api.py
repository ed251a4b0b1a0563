"""The Neutron v2.0 API (network part) through the real openstack CLI and over HTTP."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gureum.testing import RunningCloud
from tests.network.helpers import call


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_version_discovery_and_extensions(cloud: RunningCloud) -> None:
    status, body = call(cloud, "GET", "/", token=False)  # type: ignore[arg-type]
    assert status == 200 and body["versions"][0]["id"] == "v2.0"
    status, body = call(cloud, "GET", "/v2.0/", token=False)  # type: ignore[arg-type]
    assert status == 401
    status, body = call(cloud, "GET", "/v2.0/extensions")
    aliases = {e["alias"] for e in body["extensions"]}
    assert {"external-net", "provider", "security-group", "quotas", "binding", "port-security"} <= aliases
    assert "router" in aliases and "dvr" not in aliases and "dns-integration" not in aliases
    status, body = call(cloud, "GET", "/v2.0/extensions/dvr")
    assert status == 404 and body["NeutronError"]["type"]


def test_seed_walk(cloud: RunningCloud) -> None:
    ext, priv = unique("ext-net"), unique("private-net")
    # One flat network per physical network: use a fresh physnet name per run.
    physnet = unique("provider")
    net = cloud.openstack_json("network", "create", ext, "--external", "--provider-physical-network", physnet,
                               "--provider-network-type", "flat")
    assert net["router:external"] is True and net["provider:network_type"] == "flat" and net["mtu"] == 1500
    sub = cloud.openstack_json("subnet", "create", unique("ext-subnet"), "--network", ext, "--subnet-range",
                               "192.168.100.0/24", "--no-dhcp", "--allocation-pool",
                               "start=192.168.100.20,end=192.168.100.50", "--gateway", "192.168.100.1")
    assert sub["enable_dhcp"] is False and sub["gateway_ip"] == "192.168.100.1"
    assert sub["allocation_pools"] == [{"start": "192.168.100.20", "end": "192.168.100.50"}]
    pnet = cloud.openstack_json("network", "create", priv)
    assert pnet["provider:network_type"] == "vxlan" and pnet["mtu"] == 1450
    assert 1 <= pnet["provider:segmentation_id"] <= 1000
    psub = cloud.openstack_json("subnet", "create", unique("private-subnet"), "--network", priv, "--subnet-range",
                                "10.0.0.0/24", "--allocation-pool", "start=10.0.0.10,end=10.0.0.100", "--gateway",
                                "10.0.0.1", "--dns-nameserver", "8.8.8.8")
    assert psub["dns_nameservers"] == ["8.8.8.8"]
    sg = unique("test_sg")
    cloud.openstack("security", "group", "create", sg)
    for port in ("22", "80", "8888"):
        rule = cloud.openstack_json("security", "group", "rule", "create", "--proto", "tcp", "--dst-port", port,
                                    "--remote-ip", "0.0.0.0/0", sg)
        assert rule["port_range_min"] == int(port) and rule["direction"] == "ingress"
    dup = cloud.openstack("security", "group", "rule", "create", "--proto", "tcp", "--dst-port", "22",
                          "--remote-ip", "0.0.0.0/0", sg, check=False)
    assert dup.returncode != 0 and "already exists" in dup.stderr
    port = cloud.openstack_json("port", "create", "--network", priv, unique("p"))
    assert port["fixed_ips"][0]["ip_address"] == "10.0.0.10"
    assert port["mac_address"].startswith("fa:16:3e:") and port["status"] == "DOWN"
    names = [n["Name"] for n in cloud.openstack_json("network", "list", "--external")]
    assert ext in names and priv not in names
    shown = cloud.openstack_json("network", "show", priv)
    assert shown["subnets"] == [psub["id"]]
    quota = cloud.openstack_json("quota", "show")
    by_name = {q["Resource"]: q["Limit"] for q in quota} if isinstance(quota, list) else quota
    assert by_name["networks"] == 100 and by_name["ports"] == 500 and by_name["subnets"] == 100
    cloud.openstack("port", "delete", port["id"])
    cloud.openstack("subnet", "delete", psub["id"])
    cloud.openstack("network", "delete", priv)


def test_default_security_group(cloud: RunningCloud, member_env: dict[str, str]) -> None:
    groups = cloud.openstack_json("security", "group", "list", env=member_env)
    assert [g["Name"] for g in groups] == ["default"]
    rules = cloud.openstack_json("security", "group", "rule", "list", "default", "--long", env=member_env)
    assert len(rules) == 4


def test_member_cannot_create_external_or_provider(cloud: RunningCloud, member_env: dict[str, str]) -> None:
    result = cloud.openstack("network", "create", unique("x"), "--external", env=member_env, check=False)
    assert result.returncode != 0 and "disallowed by policy" in result.stderr
    result = cloud.openstack("network", "create", unique("x"), "--provider-network-type", "vxlan",
                             "--provider-segment", "77", env=member_env, check=False)
    assert result.returncode != 0 and "disallowed by policy" in result.stderr
    own = cloud.openstack_json("network", "create", unique("mine"), env=member_env)
    assert "provider:network_type" not in own or own["provider:network_type"] is None
    cloud.openstack("network", "delete", own["id"], env=member_env)


def test_name_lookup_404_and_encoded_filter(cloud: RunningCloud) -> None:
    status, body = call(cloud, "GET", "/v2.0/networks/no-such-name")
    assert status == 404 and body["NeutronError"]["type"] == "NetworkNotFound"
    status, body = call(cloud, "GET", "/v2.0/networks?router%3Aexternal=True")
    assert status == 200 and all(n["router:external"] for n in body["networks"])


def test_bad_input_names_the_field(cloud: RunningCloud) -> None:
    status, net = call(cloud, "POST", "/v2.0/networks", {"network": {"name": unique("bad")}})
    net_id = net["network"]["id"]
    cases = [
        ({"subnet": {"network_id": net_id, "ip_version": 4, "cidr": "10.9.0.0/33"}}, "cidr"),
        ({"subnet": {"network_id": net_id, "ip_version": 4, "cidr": "10.9.0.0/24",
                     "allocation_pools": [{"start": "10.9.1.1", "end": "10.9.1.5"}]}}, "allocation pool"),
        ({"subnet": {"network_id": net_id, "ip_version": 4, "cidr": "10.9.0.0/24",
                     "dns_nameservers": ["nope"]}}, "dns_nameservers"),
        ({"subnet": {"network_id": net_id, "ip_version": 4, "cidr": "10.9.0.0/24", "bogus": 1}}, "bogus"),
    ]
    for body, word in cases:
        status, err = call(cloud, "POST", "/v2.0/subnets", body)
        assert 400 <= status < 500, (body, status, err)
        assert word in err["NeutronError"]["message"], err
    status, err = call(cloud, "POST", "/v2.0/networks", {"network": {"admin_state_up": "maybe"}})
    assert status == 400 and "admin_state_up" in err["NeutronError"]["message"]
    status, err = call(cloud, "POST", "/v2.0/networks", {"network": {"provider:network_type": "gre"}})
    assert status == 400 and "gre" in err["NeutronError"]["message"]
    status, _ = call(cloud, "POST", "/v2.0/subnets", {"subnet": {"network_id": net_id, "ip_version": 4,
                                                                "cidr": "10.9.0.0/24"}})
    assert status == 201
    status, err = call(cloud, "POST", "/v2.0/subnets", {"subnet": {"network_id": net_id, "ip_version": 4,
                                                                  "cidr": "10.9.0.128/25"}})
    assert status == 400 and "overlaps" in err["NeutronError"]["message"]
    status, err = call(cloud, "POST", "/v2.0/security-group-rules", {"security_group_rule": {
        "security_group_id": "nope", "direction": "ingress"}})
    assert status == 404 and err["NeutronError"]["type"] == "SecurityGroupNotFound"


def test_vni_allocated_once(cloud: RunningCloud) -> None:
    token = cloud.token()
    vnis = []
    for _ in range(5):
        status, body = call(cloud, "POST", "/v2.0/networks", {"network": {"name": unique("v")}}, token)
        assert status == 201
        vnis.append(body["network"]["provider:segmentation_id"])
    assert len(set(vnis)) == 5
    status, err = call(cloud, "POST", "/v2.0/networks", {"network": {
        "provider:network_type": "vxlan", "provider:segmentation_id": vnis[0]}}, token)
    assert status == 409 and err["NeutronError"]["type"] == "TunnelIdInUse"
    status, body = call(cloud, "POST", "/v2.0/networks", {"network": {
        "provider:network_type": "vlan", "provider:physical_network": unique("pn"),
        "provider:segmentation_id": 100}}, token)
    assert status == 201 and body["network"]["mtu"] == 1500


def test_ipam_50_concurrent_port_creates(cloud: RunningCloud) -> None:
    token = cloud.token()
    _, net = call(cloud, "POST", "/v2.0/networks", {"network": {"name": unique("ipam")}}, token)
    net_id = net["network"]["id"]
    status, sub = call(cloud, "POST", "/v2.0/subnets", {"subnet": {
        "network_id": net_id, "ip_version": 4, "cidr": "10.77.0.0/24", "gateway_ip": "10.77.0.30",
        "allocation_pools": [{"start": "10.77.0.5", "end": "10.77.0.60"}]}}, token)
    # A pool holding the gateway is refused, as in neutron.
    assert status == 409 and sub["NeutronError"]["type"] == "GatewayConflictWithAllocationPools"
    status, sub = call(cloud, "POST", "/v2.0/subnets", {"subnet": {
        "network_id": net_id, "ip_version": 4, "cidr": "10.77.0.0/24", "gateway_ip": "10.77.0.30",
        "allocation_pools": [{"start": "10.77.0.5", "end": "10.77.0.29"},
                             {"start": "10.77.0.31", "end": "10.77.0.60"}]}}, token)
    assert status == 201

    def create(_: int) -> tuple[int, Any]:
        return call(cloud, "POST", "/v2.0/ports", {"port": {"network_id": net_id}}, token)

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(create, range(50)))
    assert all(status == 201 for status, _ in results), [r for r in results if r[0] != 201][:3]
    addresses = [body["port"]["fixed_ips"][0]["ip_address"] for _, body in results]
    macs = [body["port"]["mac_address"] for _, body in results]
    assert len(set(addresses)) == 50 and len(set(macs)) == 50
    assert "10.77.0.30" not in addresses
    assert all(5 <= int(a.rsplit(".", 1)[1]) <= 60 for a in addresses)
    # 55 pool addresses: 5 more fit and the sixth fails cleanly.
    more = [create(0) for _ in range(6)]
    assert [s for s, _ in more] == [201, 201, 201, 201, 201, 409]
    assert more[-1][1]["NeutronError"]["type"] == "IpAddressGenerationFailure"
    status, err = call(cloud, "POST", "/v2.0/ports", {"port": {"network_id": net_id, "fixed_ips": [
        {"ip_address": addresses[0]}]}}, token)
    assert status == 409 and err["NeutronError"]["type"] == "IpAddressAlreadyAllocated"


def test_network_quota_enforced(cloud: RunningCloud, member_env: dict[str, str]) -> None:
    project = member_env["OS_PROJECT_NAME"]
    cloud.openstack("quota", "set", "--networks", "1", project)
    cloud.openstack("network", "create", unique("q1"), env=member_env)
    result = cloud.openstack("network", "create", unique("q2"), env=member_env, check=False)
    assert result.returncode != 0 and "Quota exceeded for resources: ['network']" in result.stderr
