"""The all-in-one host's provider bridges: made by `gureum up` when missing.

An agent refuses a mapping to a bridge that does not exist (a typo must not
become a new, unconnected bridge). The all-in-one cloud's own default mapping
is different: nobody made that bridge but gureum, so `gureum up` makes it
(without any uplink) before its agent starts, and flat networks work untouched.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)


def _ip(netns: str, *args: str) -> subprocess.CompletedProcess[str]:
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    return subprocess.run([*prefix, *args], capture_output=True, text=True)


def ensure_provider_bridges(netns: str, mappings: dict[str, str]) -> None:
    """Make each mapped bridge (and the namespace) if missing; log, never raise: the agent says what is wrong."""
    if netns and not (Path("/run/netns") / netns).exists():
        result = subprocess.run(["ip", "netns", "add", netns], capture_output=True, text=True)
        if result.returncode != 0:
            log.error("could not create the agent's namespace %s: %s", netns, result.stderr.strip())
            return
        _ip(netns, "link", "set", "lo", "up")
    for physnet, bridge in mappings.items():
        if _ip(netns, "link", "show", "dev", bridge).returncode == 0:
            continue
        made = _ip(netns, "link", "add", bridge, "type", "bridge")
        if made.returncode != 0:
            log.error("could not create bridge %s for physical network %s: %s", bridge, physnet, made.stderr.strip())
            continue
        _ip(netns, "link", "set", bridge, "up")
        log.info("made bridge %s for physical network %s (no uplink: floating IPs are reachable from this "
                 "host only once the bridge is connected, see the README)", bridge, physnet)
