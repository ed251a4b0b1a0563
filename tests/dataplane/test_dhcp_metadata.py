"""DHCP from dnsmasq and the metadata service, seen from a stand-in guest."""

from __future__ import annotations

import json

from gureum.agent.hypervisor.instance_metadata import InstanceMetadata
from gureum.agent.protocol import DesiredNetworking
from tests.dataplane.helpers import World, network, port

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDataplaneTestKeyOnly test@gureum"


def test_lease_carries_address_routes_mtu_and_dns_and_metadata_answers_by_source(world: World) -> None:
    net = network("10.0.0.0/24", vni=101, mtu=1450, dns_nameservers=["192.0.2.53"],
                  host_routes=[{"destination": "172.16.0.0/16", "nexthop": "10.0.0.9"}])
    mine = port(net, "10.0.0.5", hostname="alpha.example.org", port_security_enabled=False)
    stranger = port(net, "10.0.0.6", port_security_enabled=False)
    dataplane = world.dataplane()
    guest = world.guest(mine)
    other = world.guest(stranger)
    world.instances[(net.id, "10.0.0.5")] = InstanceMetadata(
        uuid="0b7c3c9e-5d0a-4c52-9c2b-2b8f1f0e6a11", name="alpha", hostname="alpha", public_keys={"mykey": KEY},
        user_data=b"#!/bin/sh\necho hi\n", ec2_instance_id="i-00000001", local_ipv4="10.0.0.5")

    seen = dataplane.apply(DesiredNetworking(networks=[net], ports=[mine, stranger]))

    assert seen.errors == {}
    assert {mine.id, stranger.id, net.dhcp_port_id} <= set(seen.ports_up)
    lease = guest.dhcp()
    assert lease["ip"] == "10.0.0.5"
    assert lease["mask"] == "24"
    assert lease["router"] == "10.0.0.1"
    assert lease["mtu"] == "1450"
    assert lease["dns"].split() == ["192.0.2.53"]
    assert lease["hostname"] == "alpha"
    # RFC 3442: metadata via the DHCP port, the subnet's host routes, and the default route too.
    assert lease["staticroutes"].split() == ["169.254.169.254/32", "10.0.0.2", "172.16.0.0/16", "10.0.0.9",
                                             "0.0.0.0/0", "10.0.0.1"]
    guest.configure(lease)

    status, body = guest.http_get("http://169.254.169.254/openstack/latest/meta_data.json")
    assert status == 200
    document = json.loads(body)
    assert document["uuid"] == "0b7c3c9e-5d0a-4c52-9c2b-2b8f1f0e6a11"
    assert document["public_keys"] == {"mykey": KEY}
    # The paths the test guest's init reads (gureum/guest/files.py), EC2 style.
    assert guest.http_get("http://169.254.169.254/latest/meta-data/instance-id") == (200, "i-00000001")
    assert guest.http_get("http://169.254.169.254/latest/meta-data/hostname") == (200, "alpha")
    assert guest.http_get("http://169.254.169.254/latest/meta-data/public-keys/") == (200, "0=mykey")
    assert guest.http_get("http://169.254.169.254/latest/meta-data/public-keys/0/openssh-key") == (200, KEY)
    assert guest.http_get("http://169.254.169.254/latest/user-data") == (200, "#!/bin/sh\necho hi")
    assert guest.http_get("http://169.254.169.254/2009-04-04/meta-data/local-ipv4") == (200, "10.0.0.5")
    assert guest.http_get("http://169.254.169.254/latest/meta-data/placement/availability-zone") == (200, "nova")
    status, listing = guest.http_get("http://169.254.169.254/openstack")
    assert status == 200 and "2012-08-10" in listing.split() and "latest" in listing.split()

    # A source the agent does not know gets a plain 404, not someone else's metadata.
    other.configure(other.dhcp())
    status, body = other.http_get("http://169.254.169.254/latest/meta-data/instance-id")
    assert status == 404
    assert "10.0.0.6" in body


def test_host_entries_follow_the_ports_with_a_reload_not_a_restart(world: World) -> None:
    net = network("10.1.0.0/24", vni=102)
    first = port(net, "10.1.0.5", port_security_enabled=False)
    dataplane = world.dataplane()
    dataplane.apply(DesiredNetworking(networks=[net], ports=[first]))
    pidfile = dataplane.state_dir / "dhcp" / net.id / "pid"
    pid = pidfile.read_text().strip()

    second = port(net, "10.1.0.6", port_security_enabled=False)
    late = world.guest(second)
    dataplane.apply(DesiredNetworking(networks=[net], ports=[first, second]))

    assert late.dhcp()["ip"] == "10.1.0.6"
    assert pidfile.read_text().strip() == pid  # SIGHUP re-read the hosts file; same dnsmasq


def test_a_network_without_gateway_sends_no_router_and_no_default_route(world: World) -> None:
    net = network("10.2.0.0/24", vni=103, gateway=None)
    mine = port(net, "10.2.0.5", port_security_enabled=False)
    dataplane = world.dataplane()
    guest = world.guest(mine)
    dataplane.apply(DesiredNetworking(networks=[net], ports=[mine]))

    lease = guest.dhcp()
    assert "router" not in lease
    assert lease["staticroutes"].split() == ["169.254.169.254/32", "10.2.0.2"]
