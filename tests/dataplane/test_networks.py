"""Networks: isolation between projects, VXLAN between hosts, repair, adoption, unsupported types."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
from pathlib import Path

from gureum.agent.dataplane import names, netns
from gureum.agent.protocol import DesiredNetworking
from tests.dataplane.helpers import PYTHON, TCP_TOOL, World, default_group, network, port, wait_for


def test_two_projects_with_the_same_addresses_stay_apart(world: World) -> None:
    first, second = network("10.0.0.0/24", vni=130, dhcp_ip=None), network("10.0.0.0/24", vni=131, dhcp_ip=None)
    ports = {(net.id, ip): port(net, ip, port_security_enabled=False)
             for net in (first, second) for ip in ("10.0.0.5", "10.0.0.6")}
    dataplane = world.dataplane()
    guests = {key: world.guest(p) for key, p in ports.items()}
    for guest in guests.values():
        guest.configure_static()
    guests[(first.id, "10.0.0.6")].serve_tcp(6000, "first")
    guests[(second.id, "10.0.0.6")].serve_tcp(6000, "second")

    seen = dataplane.apply(DesiredNetworking(networks=[first, second], ports=list(ports.values())))

    assert seen.errors == {}
    assert guests[(first.id, "10.0.0.5")].connect("10.0.0.6", 6000) == "first 10.0.0.5"
    assert guests[(second.id, "10.0.0.5")].connect("10.0.0.6", 6000) == "second 10.0.0.5"


def test_vxlan_carries_a_network_between_two_hosts_each_serving_its_own_guests(world: World) -> None:
    left_host, right_host = world.host("left"), world.host("right")
    world.underlay(left_host, right_host, "192.168.77.1", "192.168.77.2")
    shared = network("10.30.0.0/24", vni=140, dhcp_ip=None)
    left_net = _with_dhcp(shared, "10.30.0.2", peers=["192.168.77.2"])
    right_net = _with_dhcp(shared, "10.30.0.3", peers=["192.168.77.1"])
    default = default_group(["10.30.0.5", "10.30.0.6"])
    left_port, right_port = port(shared, "10.30.0.5", [default.id]), port(shared, "10.30.0.6", [default.id])
    left = world.dataplane(left_host, local_ip="192.168.77.1", prefix="l-")
    right = world.dataplane(right_host, local_ip="192.168.77.2", prefix="r-")
    left_guest, right_guest = world.guest(left_port, left_host), world.guest(right_port, right_host)

    assert left.apply(DesiredNetworking(networks=[left_net], ports=[left_port],
                                        security_groups=[default])).errors == {}
    assert right.apply(DesiredNetworking(networks=[right_net], ports=[right_port],
                                         security_groups=[default])).errors == {}

    left_lease, right_lease = left_guest.dhcp(), right_guest.dhcp()
    assert (left_lease["ip"], left_lease["serverid"]) == ("10.30.0.5", "10.30.0.2")
    assert (right_lease["ip"], right_lease["serverid"]) == ("10.30.0.6", "10.30.0.3")
    assert left_lease["mtu"] == "1450"
    left_guest.configure(left_lease)
    right_guest.configure(right_lease)
    right_guest.serve_tcp(4000, "right")
    # The default group: guests of one group reach each other (remote group = itself) on any host.
    assert left_guest.connect("10.30.0.6", 4000) == "right 10.30.0.5"


def _with_dhcp(shared, address: str, peers: list[str]):
    import dataclasses

    from gureum.agent.protocol import DesiredFixedIp
    from tests.dataplane.helpers import new_id, random_mac
    return dataclasses.replace(shared, vxlan_peers=peers, dhcp_port_id=new_id(), dhcp_mac=random_mac(),
                               dhcp_fixed_ips=[DesiredFixedIp(subnet_id=shared.subnets[0].id, ip_address=address)])


def test_deleted_bridge_namespace_and_killed_dnsmasq_are_repaired(world: World) -> None:
    net = network("10.40.0.0/24", vni=150)
    mine = port(net, "10.40.0.5", port_security_enabled=False)
    dataplane = world.dataplane()
    guest = world.guest(mine)
    desired = DesiredNetworking(networks=[net], ports=[mine])
    dataplane.apply(desired)
    assert guest.dhcp()["ip"] == "10.40.0.5"
    host = world.host()
    dhcp_namespace = names.dhcp_namespace(world.prefix, net.id)
    pidfile = dataplane.state_dir / "dhcp" / net.id / "pid"

    # By hand: the bridge goes (the guest's end falls off it), dnsmasq dies, the DHCP namespace goes.
    subprocess.run(["ip", "-n", host, "link", "del", names.bridge_name(net.id)], check=True)
    os.kill(int(pidfile.read_text()), signal.SIGKILL)
    subprocess.run(["ip", "netns", "del", dhcp_namespace], check=True)

    seen = dataplane.apply(desired)

    assert seen.errors == {}
    assert guest.dhcp()["ip"] == "10.40.0.5"
    guest.configure(guest.dhcp())
    world.instances[(net.id, "10.40.0.5")] = _metadata()
    assert guest.http_get("http://169.254.169.254/latest/meta-data/instance-id") == (200, "i-00000042")


def test_a_new_dataplane_adopts_a_running_node_without_touching_it(world: World) -> None:
    net = network("10.41.0.0/24", vni=151)
    default = default_group(["10.41.0.5", "10.41.0.6"])
    first, second = port(net, "10.41.0.5", [default.id]), port(net, "10.41.0.6", [default.id])
    dataplane = world.dataplane()
    a, b = world.guest(first), world.guest(second)
    desired = DesiredNetworking(networks=[net], ports=[first, second], security_groups=[default])
    dataplane.apply(desired)
    a.configure(a.dhcp())
    b.configure(b.dhcp())
    b.serve_tcp(4100)
    b.start(PYTHON, TCP_TOOL, "echo", "4200")
    b.wait_listening(4200)
    trigger = world.workdir / "go-on"
    session = subprocess.Popen(["ip", "netns", "exec", a.name, PYTHON, TCP_TOOL, "session", "10.41.0.6", "4200",
                                str(trigger)], stdout=subprocess.PIPE, text=True)
    assert session.stdout is not None and session.stdout.readline().strip() == "first"
    before = _links(world.host())
    pid = (dataplane.state_dir / "dhcp" / net.id / "pid").read_text()
    dataplane.close()  # the agent stops; everything it built stays

    restarted = world.dataplane()
    restarted.state_dir = dataplane.state_dir  # same node, same state dir
    seen = restarted.apply(desired)

    assert seen.errors == {}
    assert _links(world.host()) == before  # same devices, same ifindexes
    assert (dataplane.state_dir / "dhcp" / net.id / "pid").read_text() == pid
    assert a.connect("10.41.0.6", 4100) == "hello 10.41.0.5"
    # A port more rewrites the rules (and renumbers the ports): the open connection goes on.
    late = port(net, "10.41.0.1", [default.id])
    assert restarted.apply(dataclasses.replace(desired, ports=[late, first, second])).errors == {}
    trigger.touch()
    assert session.communicate(timeout=30)[0].strip() == "second"
    assert session.returncode == 0


def test_a_vlan_network_gets_a_clear_error_and_the_others_are_still_built(world: World) -> None:
    vlan = network("10.50.0.0/24", vni=50, network_type="vlan", physical_network="external")
    fine = network("10.51.0.0/24", vni=152)
    dataplane = world.dataplane()

    seen = dataplane.apply(DesiredNetworking(networks=[vlan, fine]))

    assert not dataplane.vlan_supported()
    assert "802.1Q" in seen.errors[vlan.id]
    assert fine.id not in seen.errors and fine.dhcp_port_id in seen.ports_up


def test_what_is_no_longer_desired_goes_and_remove_all_leaves_nothing(world: World) -> None:
    net = network("10.60.0.0/24", vni=160)
    mine = port(net, "10.60.0.5")
    dataplane = world.dataplane()
    host = world.host()
    dataplane.apply(DesiredNetworking(networks=[net], ports=[mine]))
    assert names.tap_name(mine.id) in _links(host)

    dataplane.apply(DesiredNetworking(networks=[net]))
    assert names.tap_name(mine.id) not in _links(host)
    dataplane.apply(DesiredNetworking())
    wait_for(lambda: set(_links(host)) == {"lo"}, what="the host namespace to be empty")
    assert netns.names_with_prefix(world.prefix) == [host]

    dataplane.apply(DesiredNetworking(networks=[net], ports=[mine]))
    dataplane.remove_all()
    wait_for(lambda: set(_links(host)) == {"lo"}, what="the host namespace to be empty")
    assert netns.names_with_prefix(world.prefix) == [host]
    ruleset = subprocess.run(["ip", "netns", "exec", host, "nft", "list", "ruleset"], capture_output=True,
                             text=True, check=True).stdout
    assert ruleset.strip() == ""


def _links(namespace: str) -> dict[str, int]:
    from pyroute2 import IPRoute
    with IPRoute(netns=namespace) as ipr:
        return {link.get("ifname"): link["index"] for link in ipr.link("dump")}


def _metadata():
    from gureum.agent.hypervisor.instance_metadata import InstanceMetadata
    return InstanceMetadata(uuid="u", name="n", hostname="n", ec2_instance_id="i-00000042")


def test_in_the_root_namespace_only_its_own_devices_and_tables_are_touched(world: World) -> None:
    """host_netns=None, run inside a namespace that plays the host's own."""
    import json
    from dataclasses import asdict
    root = world.host("root")
    subprocess.run(["ip", "-n", root, "link", "add", "docker0", "type", "bridge"], check=True)
    subprocess.run(["ip", "netns", "exec", root, "nft", "-f", "-"], check=True, text=True,
                   input="table inet theirs {\n\tchain input {\n\t\ttype filter hook input priority 0;\n\t}\n}\n")
    net = network("10.70.0.0/24", vni=170)
    default = default_group(["10.70.0.5"])
    mine = port(net, "10.70.0.5", [default.id])
    guest = world.guest(mine, root)
    desired = DesiredNetworking(networks=[net], ports=[mine], security_groups=[default])
    script = str(Path(__file__).with_name("root_dataplane.py"))

    def run(command: str) -> dict:
        result = subprocess.run(["ip", "netns", "exec", root, PYTHON, script, command,
                                 str(world.workdir / "root-dp"), world.prefix],
                                input=json.dumps(asdict(desired)), capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if command == "apply" else {}

    assert run("apply")["errors"] == {}
    assert guest.dhcp()["ip"] == "10.70.0.5"
    run("remove")
    assert set(_links(root)) == {"lo", "docker0", names.tap_name(mine.id)}  # the stand-in's own end stays
    tables = subprocess.run(["ip", "netns", "exec", root, "nft", "list", "tables"], capture_output=True, text=True,
                            check=True).stdout
    assert tables.split() == ["table", "inet", "theirs"]
