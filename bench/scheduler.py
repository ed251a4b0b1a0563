"""Scheduler throughput: place 10,000 instances across 1,000 simulated hosts.

Runs the real placement code (filters, weighers, the atomic claim) against a
real SQLite database in a temporary directory, and prints decisions per second.
No agents are involved: the hosts are rows, as an agent's report would make them.

    .venv/bin/python bench/scheduler.py [--hosts 1000] [--instances 10000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from gureum.compute.models import Host, Instance
from gureum.config import Settings
from gureum.db.base import new_uuid, utcnow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--instances", type=int, default=10000)
    parser.add_argument("--weigher", default="spread", choices=["spread", "pack"])
    args = parser.parse_args()

    from gureum.cloud import Cloud  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as state:
        settings = Settings(state_dir=Path(state), scheduler_weigher=args.weigher)
        cloud = Cloud(settings)
        cloud.migrate()
        cloud.policy.register_defaults({})
        now = utcnow()
        with cloud.db.session() as session:
            session.execute(insert(Host), [
                {"hostname": f"sim-{i:04d}", "uuid": new_uuid(), "vcpus": 32, "memory_mb": 131072,
                 "disk_gb": 2000, "last_seen_at": now, "desired_revision": 1} for i in range(args.hosts)])
            flavor = {"id": "f", "name": "bench.small", "vcpus": 1, "ram": 1024, "disk": 10, "ephemeral": 0, "swap": 0}
            uuids = [new_uuid() for _ in range(args.instances)]
            session.execute(insert(Instance), [
                {"uuid": u, "name": f"b-{n}", "project_id": "p", "user_id": "u", "flavor": flavor,
                 "vm_state": "building", "task_state": "scheduling"} for n, u in enumerate(uuids)])
        started = time.perf_counter()
        latencies = []
        for instance_uuid in uuids:
            t0 = time.perf_counter()
            cloud.compute.schedule(instance_uuid)
            latencies.append(time.perf_counter() - t0)
            # Keep every simulated host "up" for the whole run.
            if len(latencies) % 100 == 0:
                with cloud.db.session() as session:
                    session.query(Host).update({Host.last_seen_at: utcnow()})
        elapsed = time.perf_counter() - started
        latencies.sort()
        with cloud.db.read() as session:
            placed = session.query(Instance).filter(Instance.host_id.is_not(None)).count()
        cloud.close()
    print(f"hosts                 {args.hosts}")
    print(f"instances             {args.instances} ({placed} placed)")
    print(f"weigher               {args.weigher}")
    print(f"decisions per second  {args.instances / elapsed:.0f}")
    print(f"p50 / p99 per decision {latencies[len(latencies) // 2] * 1000:.2f} ms / "
          f"{latencies[int(len(latencies) * 0.99)] * 1000:.2f} ms")


if __name__ == "__main__":
    main()
