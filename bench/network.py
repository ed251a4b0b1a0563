"""Networking figures: port create p50 (1 and 50 clients), router + floating IP to first packet.

Starts its own `gureum up` whose agent keeps its dataplane in a namespace standing
for the host, with an "outside" namespace on the provider bridge (as the e2e
tests do), and prints:
  - p50/p99 of POST /network/v2.0/ports with 1 client and with 50 concurrent
    clients, and that no address was handed out twice;
  - with a guest already running on a tenant network: seconds from `router create`
    (then gateway, interface, floating IP create and associate, all through the
    API) to the first TCP connection from the outside to the guest's port 22
    through the floating IP.
With --listing it runs in-process instead (no `gureum up`, no agent) and prints
GET-ports-as-the-service-runs-it figures: listing 5,000 ports p50 (all of them, and
one page of 100), with the SQL statements each list runs beside 5 ports' count.
The dataplane's own figures (converge after an agent restart with 50 ports,
throughput between two taps against a plain veth pair) are in bench/dataplane.py.

    .venv/bin/python bench/network.py [--ports 200]
    .venv/bin/python bench/network.py --listing [--rows 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gureum.testing import remove_namespaces, remove_state, start_cloud, wait_for, wait_for_compute  # noqa: E402
from tests.e2e.netns import Outside  # noqa: E402


def call(base: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(f"{base}/network/v2.0{path}", method=method,
                                     data=json.dumps(body).encode() if body else None,
                                     headers={"X-Auth-Token": token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        raw = response.read()
    return json.loads(raw) if raw else {}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def port_creates(base: str, token: str, network_id: str, count: int, clients: int) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    addresses: list[str] = []
    lock = threading.Lock()
    per_client = count // clients

    def client() -> None:
        for _ in range(per_client):
            started = time.perf_counter()
            port = call(base, token, "POST", "/ports", {"port": {"network_id": network_id}})["port"]
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                addresses.extend(f["ip_address"] for f in port["fixed_ips"])

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, addresses


def seed_ports(cloud: Any, project: str, network_id: str, subnet_id: str, count: int) -> None:
    """Rows straight into the tables (the figure is about listing, not creating)."""
    from gureum.network.models import IPAllocation, Port  # noqa: PLC0415

    with cloud.db.session() as session:
        for i in range(count):
            port = Port(name=f"p{i}", project_id=project, network_id=network_id,
                        mac_address=f"fa:16:3e:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}",
                        device_owner="compute:nova", security_groups=[], allowed_address_pairs=[],
                        binding_profile={})
            session.add(port)
            session.flush()
            session.add(IPAllocation(port_id=port.id, subnet_id=subnet_id, network_id=network_id,
                                     ip_address=f"10.{100 + (i >> 16)}.{i >> 8 & 255}.{i & 255}"))


def timed_list(cloud: Any, ctx: Any, wanted: Any, rounds: int) -> tuple[float, int, int]:
    """(p50 seconds, statements per list, rows) of cloud.network.list(ctx, "port", wanted)."""
    from sqlalchemy import event  # noqa: PLC0415

    statements = 0

    def count(*_args: Any) -> None:
        nonlocal statements
        statements += 1

    engines = {id(e): e for e in (cloud.db.engine, cloud.db.read_engine)}.values()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        items, _ = cloud.network.list(ctx, "port", wanted)
        per_list = statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        cloud.network.list(ctx, "port", wanted)
        times.append(time.perf_counter() - started)
    return statistics.median(times), per_list, len(items)


def listing(rows: int) -> None:
    from gureum.cloud import Cloud  # noqa: PLC0415
    from gureum.config import Settings  # noqa: PLC0415
    from gureum.http.context import RequestContext  # noqa: PLC0415
    from gureum.network.listing import ListQuery  # noqa: PLC0415

    state = Path(tempfile.mkdtemp(prefix="gbl-", dir="/tmp"))
    cloud = Cloud(Settings(state_dir=state / "state"))
    cloud.start()
    try:
        ctx = RequestContext(user_id="u", user_name="u", user_domain_id="default", user_domain_name="Default",
                             roles=("admin", "member", "reader"), project_id="b" * 32)
        figures = []
        for count in (5, rows):
            net = cloud.network.create(ctx, "network", {"name": f"n{count}"})
            cidr = "10.99.0.0/24" if count == 5 else "10.100.0.0/14"
            sub = cloud.network.create(ctx, "subnet", {"network_id": net["id"], "cidr": cidr})
            seed_ports(cloud, ctx.project_id, net["id"], sub["id"], count)
            wanted = ListQuery.from_params([("network_id", net["id"])])
            figures.append((count, *timed_list(cloud, ctx, wanted, 20 if count < 1000 else 10)))
        page = ListQuery.from_params([("network_id", net["id"]), ("limit", "100")])
        figures.append((rows, *timed_list(cloud, ctx, page, 20)))
        print(f"listing ports in-process (SQLite, {os.cpu_count()} cores):")
        for (count, p50, statements, shown), what in zip(figures, ("all", "all", "limit=100")):
            print(f"  {count:>5} ports, {what:>9}: p50 {p50 * 1000:7.1f} ms, {statements} SQL statements, "
                  f"{shown} rows")
    finally:
        cloud.close()
        remove_state(state)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, default=200)
    parser.add_argument("--listing", action="store_true", help="in-process list figures only")
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    if args.listing:
        listing(args.rows)
        return
    prefix = "gbn" + os.urandom(2).hex()
    outside = Outside.create(prefix, bridge="br-provider", address="203.0.113.1/24")
    state = Path(tempfile.mkdtemp(prefix="gbn-", dir="/tmp"))
    cloud = start_cloud(state, "--agent-netns", outside.host_ns, "--agent-name-prefix", prefix,
                        "--bridge-mapping", "provider:br-provider")
    try:
        wait_for_compute(cloud)
        token = cloud.token()
        run = cloud.openstack
        run("quota", "set", "--ports", "-1", "admin")
        bench_net = cloud.openstack_json("network", "create", "bench-ports")["id"]
        run("subnet", "create", "bench-ports-s", "--network", "bench-ports", "--subnet-range", "10.200.0.0/20")
        print(f"port create, {args.ports} ports each run:")
        for clients in (1, 50):
            latencies, addresses = port_creates(cloud.base_url, token, bench_net, args.ports, clients)
            unique = len(set(addresses)) == len(addresses)
            print(f"  {clients:>2} client(s): p50 {statistics.median(latencies) * 1000:7.1f} ms, "
                  f"p99 {percentile(latencies, 0.99) * 1000:7.1f} ms, "
                  f"{len(latencies) / max(sum(latencies) / clients, 1e-9):6.1f} creates/s; "
                  f"addresses unique: {'yes' if unique else 'NO'}")

        run("network", "create", "ext", "--external", "--provider-physical-network", "provider",
            "--provider-network-type", "flat")
        run("subnet", "create", "ext-s", "--network", "ext", "--no-dhcp", "--subnet-range", "203.0.113.0/24",
            "--allocation-pool", "start=203.0.113.100,end=203.0.113.200", "--gateway", "203.0.113.1")
        run("network", "create", "tenant")
        run("subnet", "create", "tenant-s", "--network", "tenant", "--subnet-range", "10.0.0.0/24")
        run("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22", "default")
        run("server", "create", "--flavor", "t2.micro", "--image", "gureum-guest", "--nic", "net-id=tenant",
            "--wait", "vm")
        time.sleep(15)  # let the guest finish booting: the figure is about the network, not the boot
        started = time.perf_counter()
        run("router", "create", "r1")
        run("router", "set", "r1", "--external-gateway", "ext")
        run("router", "add", "subnet", "r1", "tenant-s")
        fip = cloud.openstack_json("floating", "ip", "create", "ext")["floating_ip_address"]
        run("server", "add", "floating", "ip", "vm", fip)
        api_done = time.perf_counter() - started
        wait_for(lambda: outside.tcp_connect(fip, 22, timeout=1), 180, 0.2, "the first packet through the FIP")
        total = time.perf_counter() - started
        print(f"router + floating IP to first packet: {total:.1f} s "
              f"(of which {api_done:.1f} s are the five CLI calls, about 1.5 s each)")
    finally:
        cloud.stop()
        remove_state(state)
        remove_namespaces(prefix)


if __name__ == "__main__":
    main()
