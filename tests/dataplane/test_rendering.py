"""What the dataplane writes, checked as text (nft rules, dnsmasq files, metadata trees).

The packet tests prove the behaviour; these pin the details that are cheap to
get wrong and slow to find with packets. Every generated ruleset is also
loaded by the real nft in a scratch namespace, so the syntax is the kernel's.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Iterator

import pytest

from gureum.agent.dataplane import dhcp, firewall, metadata, netns, nft
from gureum.agent.hypervisor.instance_metadata import InstanceMetadata
from gureum.agent.protocol import DesiredFixedIp, DesiredPort, DesiredRule, DesiredSecurityGroup
from tests.dataplane.helpers import network, port


@pytest.fixture
def scratch() -> Iterator[str]:
    name = f"gd{secrets.token_hex(3)}-scratch"
    netns.ensure(name)
    yield name
    netns.remove(name)


def _rules(*rules: DesiredRule, stateful: bool = True, members: list[str] | None = None) -> tuple[str, str]:
    group = DesiredSecurityGroup(id="g", stateful=stateful, rules=list(rules), member_ips=members or [])
    the_port = DesiredPort(id="p", mac="fa:16:3e:00:00:01", network_id="n", device_id="d",
                           fixed_ips=[DesiredFixedIp("s", "10.0.0.5"), DesiredFixedIp("s6", "fd00::5")],
                           security_group_ids=["g"],
                           allowed_address_pairs=[{"ip_address": "10.0.0.0/28"},
                                                  {"ip_address": "10.9.9.9", "mac_address": "fa:16:3e:00:00:09"}])
    ruleset = firewall.render(firewall.number_ports([("tapp", the_port)]), {"g": group}, ["brq"], {"brq": 7},
                              tunnels=["vx-7"])
    assert ruleset.bridge_body is not None and ruleset.inet_body is not None
    return ruleset.bridge_body, ruleset.inet_body


def test_rules_by_protocol_name_number_ports_icmp_and_family(scratch: str) -> None:
    bridge, inet = _rules(
        DesiredRule("ingress", protocol="tcp", port_range_min=22, port_range_max=22),
        DesiredRule("ingress", protocol="17", port_range_min=1000, port_range_max=2000,
                    remote_ip_prefix="192.0.2.7/24"),
        DesiredRule("ingress", protocol="icmp", port_range_min=8, port_range_max=0),
        DesiredRule("ingress", "IPv6", protocol="icmp", port_range_min=128),
        DesiredRule("ingress", protocol="vrrp"),
        DesiredRule("ingress", protocol="tcp", remote_ip_prefix="fd00::/64"),  # wrong family: matches nothing
        DesiredRule("ingress", protocol="bogus"),  # unknown: matches nothing
        DesiredRule("egress", protocol="udp", port_range_min=53, remote_group_id="g"),
        members=["10.0.0.5", "10.0.0.0/24", "fd00::5"])

    assert "meta nfproto ipv4 meta l4proto tcp th dport 22 accept" in inet
    assert "meta nfproto ipv4 ip saddr 192.0.2.0/24 meta l4proto udp th dport 1000-2000 accept" in inet
    assert "meta nfproto ipv4 meta l4proto icmp icmp type 8 icmp code 0 accept" in inet
    assert "meta nfproto ipv6 meta l4proto ipv6-icmp icmpv6 type 128 accept" in inet
    assert "meta nfproto ipv4 meta l4proto 112 accept" in inet
    assert "fd00::/64" not in inet and "bogus" not in inet
    assert "meta nfproto ipv4 ip daddr @remote_1_v4 meta l4proto udp th dport 53 return" in inet
    assert "elements = { 10.0.0.0/24 }" in inet  # members merged, the IPv6 one left out of the v4 set
    # Anti-spoofing: the fixed IP inside an allowed pair is merged into it; both MACs; link-local from the MAC.
    assert "ip saddr != { 10.0.0.0/28, 10.9.9.9 } drop" in bridge
    assert "ether saddr != { fa:16:3e:00:00:01, fa:16:3e:00:00:09 } drop" in bridge
    assert "fe80::f816:3eff:fe00:1" in bridge
    # The port mark never leaves with a frame into a VXLAN device (underlay fwmark routing).
    assert 'oifname { "vx-7" } meta mark set 0x0' in bridge
    nft.replace_tables(scratch, {("bridge", "t"): bridge, ("inet", "t"): inet})
    assert {("bridge", "t"), ("inet", "t")} <= nft.existing_tables(scratch)


def test_a_stateless_group_has_no_conntrack_rules(scratch: str) -> None:
    bridge, inet = _rules(DesiredRule("ingress", protocol="tcp"), stateful=False)
    assert "ct state" not in inet
    nft.replace_tables(scratch, {("bridge", "t"): bridge, ("inet", "t"): inet})


def test_dhcp_options_follow_rfc_3442_and_host_routes_may_replace_the_default() -> None:
    net = network("10.0.0.0/24", mtu=1400, dns_nameservers=["192.0.2.53", "192.0.2.54"],
                  host_routes=[{"destination": "0.0.0.0/0", "nexthop": "10.0.0.254"},
                               {"destination": "172.16.0.0/12", "nexthop": "10.0.0.9"}])
    options = dhcp.render_options(net).splitlines()
    assert options == [
        "tag:subnet0,option:router,10.0.0.1",
        "tag:subnet0,option:dns-server,192.0.2.53,192.0.2.54",
        "tag:subnet0,option:mtu,1400",
        ("tag:subnet0,option:classless-static-route,169.254.169.254/32,10.0.0.2,172.16.0.0/12,10.0.0.9,"
         "0.0.0.0/0,10.0.0.254"),
        "tag:subnet0,249,169.254.169.254/32,10.0.0.2,172.16.0.0/12,10.0.0.9,0.0.0.0/0,10.0.0.254",
    ]


def test_dhcp_hosts_are_this_hosts_ports_with_usable_hostnames() -> None:
    net = network("10.0.0.0/24")
    named = port(net, "10.0.0.5", hostname="web_1.example.org")
    unnamed = dataclasses.replace(port(net, "10.0.0.6"), hostname="")
    hosts = dhcp.render_hosts(net, [named, unnamed]).splitlines()
    assert f"{named.mac},web-1,10.0.0.5" in hosts
    assert f"{unnamed.mac},host-10-0-0-6,10.0.0.6" in hosts


def test_metadata_trees() -> None:
    instance = InstanceMetadata(uuid="u-1", name="n", hostname="h", public_keys={"a": "ssh-ed25519 AAA a"},
                                ec2_instance_id="i-1", local_ipv4="10.0.0.5")
    assert metadata.answer(instance, "/").body.decode().splitlines()[-1] == "latest"
    assert metadata.answer(instance, "/latest").body == b"meta-data/"  # no user data: not listed
    listing = metadata.answer(instance, "/latest/meta-data/").body.decode().splitlines()
    assert {"instance-id", "hostname", "local-ipv4", "placement/", "public-keys/"} <= set(listing)
    assert metadata.answer(instance, "/latest/meta-data/public-keys/0").body == b"openssh-key"
    assert metadata.answer(instance, "/latest/meta-data/public-keys/1/openssh-key").status == 404
    assert metadata.answer(instance, "/latest/user-data").status == 404
    assert metadata.answer(instance, "/openstack/latest/user_data").status == 404
    assert "user_data" not in metadata.answer(instance, "/openstack/latest").body.decode()
    reply = metadata.answer(instance, "/openstack/2013-10-17/meta_data.json")
    assert reply.content_type == "application/json" and json.loads(reply.body)["uuid"] == "u-1"
    assert json.loads(metadata.answer(instance, "/openstack/latest/vendor_data2.json").body) == {}
    assert metadata.answer(instance, "/2010-01-01/meta-data/").status == 404
