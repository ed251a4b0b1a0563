"""Dataplane figures: how long apply() takes, and what a port on a bridge costs in throughput.

Builds everything in namespaces of its own (prefix gb<random>-, removed at the end):
  - apply() with N ports (default 50) on a VXLAN network with DHCP and the default
    security group, plus a router with an external gateway and floating IPs:
    converging from empty, a pass with nothing changed, converging after an
    agent restart (a new Dataplane over the running node), and a pass after that;
  - TCP throughput between two stand-in guests (namespaces whose veth is plugged
    as a port) on one bridge, with and without port security, against a plain
    veth pair between two namespaces as the ceiling. One stream, Python sockets
    with 256 KiB writes, the same tool on every path.

    .venv/bin/python bench/dataplane.py [--ports 50] [--seconds 3] [--rounds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gureum.agent.dataplane import LinuxDataplane, netns
from gureum.agent.protocol import DesiredFloatingIp, DesiredNetworking
from tests.dataplane.helpers import World, default_group, leg, network, port, router

CHUNK = 256 * 1024


def sink(listen_port: int) -> None:
    listening = socket.socket()
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("0.0.0.0", listen_port))
    listening.listen(1)
    connection, _ = listening.accept()
    total = 0
    start = time.monotonic()
    while data := connection.recv(CHUNK):
        total += len(data)
    print(f"{total} {time.monotonic() - start}")


def source(host: str, target_port: int, seconds: float) -> None:
    payload = b"\0" * CHUNK
    with socket.create_connection((host, target_port), timeout=10) as connection:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            connection.sendall(payload)


def throughput(server, client, address: str, seconds: float) -> float:
    """Gbit/s of one TCP stream from `client` to `server` at `address`."""
    receiver = subprocess.Popen(["ip", "netns", "exec", server.name, sys.executable, __file__, "--sink", "5201"],
                                stdout=subprocess.PIPE, text=True)
    server.wait_listening(5201)
    client.run(sys.executable, __file__, "--source", address, "5201", str(seconds), timeout=seconds + 30)
    total, elapsed = receiver.communicate(timeout=30)[0].split()
    return int(total) * 8 / float(elapsed) / 1e9


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench_apply(world: World, ports: int) -> None:
    host = world.host()
    world.bridge(host, "br-ex")
    external = network("203.0.113.0/24", network_type="flat", physical_network="external", dhcp_ip=None, mtu=1500)
    tenant = network("10.90.0.0/22", vni=190)
    addresses = [str(f"10.90.{1 + i // 250}.{1 + i % 250}") for i in range(ports)]
    default = default_group(addresses)
    guest_ports = [port(tenant, address, [default.id]) for address in addresses]
    floating = [DesiredFloatingIp(id=f"fip-{i}", floating_ip=f"203.0.113.{100 + i}", fixed_ip=addresses[i],
                                  port_id=guest_ports[i].id) for i in range(min(5, ports))]
    the_router = router(gateway=leg(external, "203.0.113.10"), interfaces=[leg(tenant, "10.90.0.1")],
                        gateway_nexthop="203.0.113.1", floating_ips=floating)
    desired = DesiredNetworking(networks=[external, tenant], ports=guest_ports, security_groups=[default],
                                routers=[the_router])
    dataplane = world.dataplane(host)

    first = timed(lambda: _check(dataplane.apply(desired)))
    unchanged = statistics.median(timed(lambda: _check(dataplane.apply(desired))) for _ in range(5))
    print(f"apply, {ports} ports + DHCP + router with {len(floating)} floating IPs:")
    print(f"  converge from empty            {first * 1000:8.0f} ms")
    print(f"  nothing changed (median of 5)  {unchanged * 1000:8.1f} ms")
    dataplane.close()
    restarted = LinuxDataplane(state_dir=dataplane.state_dir, host_netns=host, bridge_mappings={"external": "br-ex"},
                          local_ip="192.168.77.1", name_prefix=world.prefix, metadata_lookup=world.lookup)
    world.dataplanes.append(restarted)
    adopted = timed(lambda: _check(restarted.apply(desired)))
    after = statistics.median(timed(lambda: _check(restarted.apply(desired))) for _ in range(5))
    one_more = dataclasses.replace(desired, ports=[*guest_ports, port(tenant, "10.90.3.250", [default.id])])
    added = timed(lambda: _check(restarted.apply(one_more)))
    print(f"  after an agent restart         {adopted * 1000:8.0f} ms")
    print(f"  nothing changed after restart  {after * 1000:8.1f} ms")
    print(f"  one port more                  {added * 1000:8.0f} ms")


def _check(seen) -> None:
    if seen.errors:
        raise SystemExit(f"apply failed: {seen.errors}")


def bench_throughput(world: World, seconds: float, rounds: int) -> None:
    host = world.host("tput")
    net = network("10.91.0.0/24", vni=191, dhcp_ip=None)
    default = default_group(["10.91.0.5", "10.91.0.6"])
    secured = [port(net, "10.91.0.5", [default.id]), port(net, "10.91.0.6", [default.id])]
    open_ports = [dataclasses.replace(p, port_security_enabled=False) for p in secured]
    dataplane = world.dataplane(host, prefix="t-")
    a, b = world.guest(secured[0], host), world.guest(secured[1], host)
    a.configure_static()
    b.configure_static()
    left, right = world.namespace("veth-a"), world.namespace("veth-b")
    subprocess.run(["ip", "-n", left.name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns",
                    right.name], check=True)
    for namespace, address in ((left, "10.92.0.1/24"), (right, "10.92.0.2/24")):
        namespace.ip("addr", "add", address, "dev", "eth0")
        namespace.ip("link", "set", "eth0", "up")

    # Rounds interleave the three paths, so load from elsewhere on the machine falls on all
    # of them alike; the best round of each is its figure.
    figures: dict[str, list[float]] = {"filtered": [], "open": [], "veth": []}
    for _ in range(rounds):
        _check(dataplane.apply(DesiredNetworking(networks=[net], ports=secured, security_groups=[default])))
        figures["filtered"].append(throughput(b, a, "10.91.0.6", seconds))
        _check(dataplane.apply(DesiredNetworking(networks=[net], ports=open_ports)))
        figures["open"].append(throughput(b, a, "10.91.0.6", seconds))
        figures["veth"].append(throughput(right, left, "10.92.0.2", seconds))
    best = {path: max(values) for path, values in figures.items()}
    print(f"TCP throughput, one stream, best of {rounds} rounds of {seconds:.0f} s (all rounds in brackets):")
    for path, label in (("filtered", "two ports on one bridge, security groups "),
                        ("open", "two ports on one bridge, no port security"),
                        ("veth", "plain veth pair (ceiling)               ")):
        share = f" = {best[path] / best['veth']:4.0%} of veth" if path != "veth" else ""
        rounds_text = ", ".join(f"{value:.1f}" for value in figures[path])
        print(f"  {label}  {best[path]:6.2f} Gbit/s{share}  [{rounds_text}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ports", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--source", nargs=3, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.sink:
        return sink(arguments.sink)
    if arguments.source:
        return source(arguments.source[0], int(arguments.source[1]), float(arguments.source[2]))
    with tempfile.TemporaryDirectory(prefix="gb-") as workdir:
        world = World(Path(workdir))
        world.prefix = "gb" + world.prefix[2:]
        try:
            bench_apply(world, arguments.ports)
            bench_throughput(world, arguments.seconds, arguments.rounds)
        finally:
            world.cleanup()
            for name in netns.names_with_prefix(world.prefix):
                netns.remove(name)


if __name__ == "__main__":
    main()
