#!/usr/bin/env python3
"""How long `gureum up` takes to answer /identity/v3: on a fresh state dir (bootstrap,
migrations) and again on the state it left (the common case: a restart).

    .venv/bin/python bench/startup.py [--restarts 5] [--no-agent] [--no-guest-image]

Prints each start, then the median and best; target: ready on existing state < 3 s.
The same measurement is part of bench/identity_tokens.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from identity_tokens import TARGETS, launch, self_reported_ready, verdict, wait_for_guest_image  # noqa: E402

from gureum.testing import free_port, remove_state  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--no-agent", action="store_true", help="pass --no-agent to gureum up")
    parser.add_argument("--no-guest-image", action="store_true", help="pass --no-guest-image to gureum up")
    args = parser.parse_args(argv)
    extra = tuple(flag for flag, on in (("--no-guest-image", args.no_guest_image), ("--no-agent", args.no_agent)) if on)
    state = Path(tempfile.mkdtemp(prefix="gstart-", dir="/tmp"))
    port = free_port()
    print(f"{os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f}, gureum up {' '.join(extra)}")
    try:
        cloud, first = launch(state, port, extra)
        guest = wait_for_guest_image(cloud, timeout=300)
        cloud.stop()
        print(f"fresh state:    {first:.2f} s (logged {self_reported_ready(cloud)} s); guest image {guest}")
        times = []
        for i in range(args.restarts):
            cloud, ready = launch(state, port, extra)
            cloud.stop()
            times.append(ready)
            print(f"restart {i + 1}:      {ready:.2f} s (logged {self_reported_ready(cloud)} s)")
    finally:
        remove_state(state)
    median = statistics.median(times)
    print(f"existing state: median {median:.2f} s, best {min(times):.2f} s   "
          f"target < {TARGETS['ready_s']:.0f} s: {verdict(median < TARGETS['ready_s'])}")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
