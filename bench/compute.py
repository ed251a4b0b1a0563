"""Compute figures: create-to-ACTIVE, create-to-banner, listing 500 servers, agent RSS.

Starts its own `gureum up` (with this host's agent and the gureum-guest image) in a
temporary state dir and prints:
  - seconds from the create call to ACTIVE, and to the guest's banner on the console
    (under TCG the guest's own boot is most of the latter);
  - p50/p99 of GET /servers/detail with 500 servers (placed on a simulated host, so
    no 500 guests boot);
  - the agent's RSS with N running guests (default 3; `--guests 10` as the issue asks).

    .venv/bin/python bench/compute.py [--guests 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from gureum.agent.protocol import AGENT_TOKEN_HEADER
from gureum.guest import BANNER_PREFIX
from gureum.testing import remove_state, start_cloud, wait_for, wait_for_compute


def call(cloud, token: str, method: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(f"{cloud.base_url}/compute/v2.1{path}", method=method,
                                     data=json.dumps(body).encode() if body else None,
                                     headers={"X-Auth-Token": token, "Content-Type": "application/json",
                                              "OpenStack-API-Version": "compute 2.79"})
    with urllib.request.urlopen(request, timeout=120) as response:
        raw = response.read()
    return json.loads(raw) if raw else {}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def count_statements(state: Path, project_id: str) -> tuple[int, int]:
    """Statements the service runs for the detail page, all servers and limit=1 (in-process, same database)."""
    from sqlalchemy import event  # noqa: PLC0415

    from gureum.cloud import Cloud  # noqa: PLC0415
    from gureum.compute import policies  # noqa: PLC0415
    from gureum.config import Settings  # noqa: PLC0415
    from gureum.http.context import RequestContext  # noqa: PLC0415

    local = Cloud(Settings(state_dir=state))
    local.policy.register_defaults(policies.COMPUTE_POLICIES)
    ctx = RequestContext(user_id="bench", user_name="admin", user_domain_id="default", user_domain_name="Default",
                         roles=("admin", "member", "reader"), project_id=project_id)
    seen: list[str] = []
    # Reads may run on a read engine of their own: count on both.
    for engine in {id(e): e for e in (local.db.engine, local.db.read_engine)}.values():
        event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    counts = []
    for params in ({}, {"limit": "1"}):
        seen.clear()
        local.compute.list_servers(ctx, params, detailed=True)
        counts.append(len([s for s in seen if not s.lstrip().upper().startswith(("BEGIN", "PRAGMA"))]))
    local.db.dispose()
    return counts[0], counts[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guests", type=int, default=3)
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="gb-", dir="/tmp"))
    cloud = start_cloud(state, timeout=300)  # a loaded machine takes longer than the default minute
    try:
        image_id = wait_for_compute(cloud)
        token = cloud.token()
        flavor = "t2.nano"
        flavor_id = cloud.openstack_json("flavor", "show", flavor)["id"]
        cloud.openstack("quota", "set", "--instances", "1000", "--cores", "1000", "--ram", "-1", "admin")
        to_active, to_banner = [], []
        for n in range(args.guests):  # --guests 0: the listing figures only
            started = time.perf_counter()
            server = call(cloud, token, "POST", "/servers", {"server": {
                "name": f"bench-{n}", "flavorRef": flavor_id, "imageRef": image_id, "networks": "none"}})["server"]
            server_id = server["id"]
            wait_for(lambda: call(cloud, token, "GET", f"/servers/{server_id}")["server"]["status"] == "ACTIVE",
                     300, 0.05, "ACTIVE")
            to_active.append(time.perf_counter() - started)
            wait_for(lambda: BANNER_PREFIX in call(cloud, token, "POST", f"/servers/{server_id}/action",
                                                   {"os-getConsoleOutput": {}})["output"], 300, 0.5, "banner")
            to_banner.append(time.perf_counter() - started)
        agent = [p for p in Path("/proc").iterdir() if p.name.isdigit() and
                 b"gureum.cli\x00agent" in (p / "cmdline").read_bytes() and str(state).encode() in (p / "cmdline").read_bytes()]
        agent_rss = rss_mb(int(agent[0].name)) if agent else 0.0

        # 500 servers for the listing, placed on a simulated host that never boots them.
        agent_token = (state / "agent-token").read_text().strip()
        report = {"hostname": "sim-list", "instances": [], "capacity": {"vcpus": 1000, "memory_mb": 10**7,
                                                                        "disk_gb": 10**6}}
        request = urllib.request.Request(f"{cloud.base_url}/agent/v1/hosts/sim-list/report", method="POST",
                                         data=json.dumps(report).encode(),
                                         headers={"Content-Type": "application/json", AGENT_TOKEN_HEADER: agent_token})
        urllib.request.urlopen(request, timeout=30).read()
        cloud.openstack("compute", "service", "set", "--disable", cloud.openstack_json("hypervisor", "list")[0][
            "Hypervisor Hostname"], "nova-compute")
        for n in range(500 - args.guests):
            call(cloud, token, "POST", "/servers", {"server": {
                "name": f"list-{n}", "flavorRef": flavor_id, "imageRef": image_id, "networks": "none"}})
        timings = []
        for _ in range(30):
            t0 = time.perf_counter()
            count = len(call(cloud, token, "GET", "/servers/detail")["servers"])
            timings.append(time.perf_counter() - t0)
        timings.sort()
        statements = count_statements(state, cloud.openstack_json("project", "show", "admin")["id"])
    finally:
        cloud.stop()
        remove_state(state)
    if to_active:
        print(f"create -> ACTIVE          median {statistics.median(to_active):.2f} s  (each: "
              f"{', '.join(f'{t:.2f}' for t in to_active)})")
        print(f"create -> guest banner    median {statistics.median(to_banner):.2f} s")
    print(f"GET /servers/detail ({count})  p50 {timings[len(timings) // 2] * 1000:.0f} ms  "
          f"p99 {timings[-1] * 1000:.0f} ms  SQL statements: {statements[0]} for the page, "
          f"{statements[1]} with limit=1")
    print(f"agent RSS with {args.guests} guests  {agent_rss:.0f} MB")


if __name__ == "__main__":
    main()
