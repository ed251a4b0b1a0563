"""Security groups and anti-spoofing, with real packets between stand-in guests."""

from __future__ import annotations

import dataclasses
import subprocess

from gureum.agent.dataplane import names
from gureum.agent.protocol import DesiredNetworking, DesiredRule
from tests.dataplane.helpers import PYTHON, TCP_TOOL, World, group, network, port


def test_closed_port_drops_a_rule_opens_it_removing_it_closes_it(world: World) -> None:
    net = network("10.10.0.0/24", vni=110, dhcp_ip=None)
    clients = group(group_id="clients", members=["10.10.0.5"])
    server_group = group(group_id="servers")
    client_port = port(net, "10.10.0.5", groups=[clients.id])
    server_port = port(net, "10.10.0.6", groups=[server_group.id])
    dataplane = world.dataplane()
    client, server = world.guest(client_port), world.guest(server_port)
    client.configure_static()
    server.configure_static()
    server.serve_tcp(5000)
    desired = DesiredNetworking(networks=[net], ports=[client_port, server_port],
                                security_groups=[clients, server_group])

    assert dataplane.apply(desired).errors == {}
    assert client.connect("10.10.0.6", 5000, timeout=1) is None  # default deny toward a guest

    opened = dataclasses.replace(server_group, rules=[
        *server_group.rules, DesiredRule("ingress", protocol="tcp", port_range_min=5000, port_range_max=5000)])
    assert dataplane.apply(dataclasses.replace(desired, security_groups=[clients, opened])).errors == {}
    assert client.connect("10.10.0.6", 5000) == "hello 10.10.0.5"

    assert dataplane.apply(desired).errors == {}
    assert client.connect("10.10.0.6", 5000, timeout=1) is None

    # remote_group_id: members of `clients` may connect; the set follows member_ips.
    by_group = dataclasses.replace(server_group, rules=[
        *server_group.rules, DesiredRule("ingress", protocol="6", remote_group_id=clients.id)])
    dataplane.apply(dataclasses.replace(desired, security_groups=[clients, by_group]))
    assert client.connect("10.10.0.6", 5000) == "hello 10.10.0.5"
    nobody = dataclasses.replace(clients, member_ips=["10.10.0.99"])
    dataplane.apply(dataclasses.replace(desired, security_groups=[nobody, by_group]))
    assert client.connect("10.10.0.6", 5000, timeout=1) is None


def test_replies_pass_and_egress_rules_limit_what_a_guest_starts(world: World) -> None:
    net = network("10.11.0.0/24", vni=111, dhcp_ip=None)
    no_egress = group(group_id="quiet")
    no_egress = dataclasses.replace(no_egress, rules=[DesiredRule("ingress", protocol="tcp", port_range_min=22,
                                                                  port_range_max=22)])
    open_group = group(DesiredRule("ingress"), group_id="open")
    quiet_port = port(net, "10.11.0.5", groups=[no_egress.id])
    open_port = port(net, "10.11.0.6", groups=[open_group.id])
    dataplane = world.dataplane()
    quiet, other = world.guest(quiet_port), world.guest(open_port)
    quiet.configure_static()
    other.configure_static()
    quiet.serve_tcp(22, "ssh")
    other.serve_tcp(80, "web")
    assert dataplane.apply(DesiredNetworking(networks=[net], ports=[quiet_port, open_port],
                                             security_groups=[no_egress, open_group])).errors == {}

    # Stateful: the reply to an allowed inbound connection leaves although egress allows nothing.
    assert other.connect("10.11.0.5", 22) == "ssh 10.11.0.6"
    assert quiet.connect("10.11.0.6", 80, timeout=1) is None


def test_admin_state_down_keeps_the_link_down(world: World) -> None:
    net = network("10.12.0.0/24", vni=112, dhcp_ip=None)
    first = port(net, "10.12.0.5", port_security_enabled=False)
    second = port(net, "10.12.0.6", port_security_enabled=False)
    dataplane = world.dataplane()
    a, b = world.guest(first), world.guest(second)
    a.configure_static()
    b.configure_static()
    b.serve_tcp(7000)
    dataplane.apply(DesiredNetworking(networks=[net], ports=[first, second]))
    assert a.connect("10.12.0.6", 7000) == "hello 10.12.0.5"

    down = dataclasses.replace(second, admin_state_up=False)
    seen = dataplane.apply(DesiredNetworking(networks=[net], ports=[first, down]))
    assert a.connect("10.12.0.6", 7000, timeout=1) is None
    assert down.id in seen.ports_up  # plugged as asked: down


def test_a_guest_cannot_spoof_its_address_or_mac_or_answer_dhcp(world: World) -> None:
    net = network("10.13.0.0/24", vni=113, dhcp_ip=None)
    everyone = group(DesiredRule("ingress"), group_id="everyone")
    spoofer_port = port(net, "10.13.0.5", groups=[everyone.id])
    victim_port = port(net, "10.13.0.6", port_security_enabled=False)
    dataplane = world.dataplane()
    spoofer, victim = world.guest(spoofer_port), world.guest(victim_port)
    spoofer.configure_static()
    victim.configure_static()
    victim.serve_tcp(8000)
    desired = DesiredNetworking(networks=[net], ports=[spoofer_port, victim_port], security_groups=[everyone])
    assert dataplane.apply(desired).errors == {}
    assert spoofer.connect("10.13.0.6", 8000) == "hello 10.13.0.5"

    # Another source address: dropped (its ARP too), until it is an allowed address pair.
    spoofer.ip("addr", "add", "10.13.0.77/24", "dev", "eth0")
    assert spoofer.connect("10.13.0.6", 8000, timeout=1, source="10.13.0.77") is None
    paired = dataclasses.replace(spoofer_port, allowed_address_pairs=[{"ip_address": "10.13.0.77"}])
    dataplane.apply(dataclasses.replace(desired, ports=[paired, victim_port]))
    assert spoofer.connect("10.13.0.6", 8000, source="10.13.0.77") == "hello 10.13.0.77"

    # A DHCP server inside a guest: its offers (UDP 67 -> 68) never reach the network.
    listener = victim.udp_listen(68, 2)
    spoofer.run(PYTHON, TCP_TOOL, "udp-send", "10.13.0.6", "68", "67", "offer")
    assert listener.wait(timeout=10) == 1  # nothing arrived
    listener = victim.udp_listen(68, 5)
    spoofer.run(PYTHON, TCP_TOOL, "udp-send", "10.13.0.6", "68", "1067", "not-dhcp")
    assert listener.wait(timeout=10) == 0  # the same datagram from another port passes

    # Another MAC address: nothing passes.
    spoofer.ip("link", "set", "eth0", "address", "fa:16:3e:66:66:66")
    spoofer.ip("neigh", "flush", "dev", "eth0")
    assert spoofer.connect("10.13.0.6", 8000, timeout=1) is None


def test_port_security_disabled_means_no_filtering_and_no_table_rules_for_it(world: World) -> None:
    net = network("10.14.0.0/24", vni=114, dhcp_ip=None)
    free = port(net, "10.14.0.5", port_security_enabled=False)
    dataplane = world.dataplane()
    guest = world.guest(free)
    dataplane.apply(DesiredNetworking(networks=[net], ports=[free]))
    guest.configure_static()
    outsider = world.namespace("peer")
    world_host = world.host()
    subprocess.run(["ip", "-n", world_host, "link", "add", "peer0", "type", "veth", "peer", "name", "eth0", "netns",
                    outsider.name], check=True)
    subprocess.run(["ip", "-n", world_host, "link", "set", "peer0", "master", names.bridge_name(net.id), "up"],
                   check=True)
    outsider.ip("addr", "add", "10.14.0.200/24", "dev", "eth0")
    outsider.ip("link", "set", "eth0", "up")
    guest.serve_tcp(9000)

    assert outsider.connect("10.14.0.5", 9000) == "hello 10.14.0.200"
    listing = subprocess.run(["ip", "netns", "exec", world_host, "nft", "list", "ruleset"], capture_output=True,
                             text=True, check=True).stdout
    assert names.tap_name(free.id) not in listing
