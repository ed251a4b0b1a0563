"""Run a Dataplane with host_netns=None, for tests that start it inside a namespace.

Started under `ip netns exec <namespace>`, that namespace is the "root" one as
far as the dataplane can tell: the host_netns=None code path runs for real
without touching the machine's own interfaces.

    python root_dataplane.py apply|remove STATE_DIR PREFIX < desired-networking.json
Prints the observation as JSON.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from gureum.agent.dataplane import LinuxDataplane
from gureum.agent.protocol import DesiredNetworking


def main(command: str, state_dir: str, prefix: str) -> None:
    dataplane = LinuxDataplane(state_dir=Path(state_dir), host_netns=None, bridge_mappings={}, local_ip="192.168.77.1",
                          name_prefix=prefix)
    try:
        if command == "apply":
            seen = dataplane.apply(DesiredNetworking.from_dict(json.load(sys.stdin)))
            print(json.dumps(asdict(seen)))
        else:
            dataplane.remove_all()
    finally:
        dataplane.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
