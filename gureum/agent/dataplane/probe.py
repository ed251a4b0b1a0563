"""What this kernel can do, found by trying it in a scratch namespace.

Probing in a namespace of its own touches nothing of the host's; the answer
does not change while the machine runs, so it is asked once per process.
"""

from __future__ import annotations

import functools
import os
import secrets

from pyroute2 import IPRoute

from gureum.agent.dataplane import netns


@functools.cache
def vlan_supported() -> bool:
    """Whether an 802.1Q device can be created (the 8021q module is in the kernel)."""
    name = f"gureum-probe-{os.getpid()}-{secrets.token_hex(3)}"
    netns.ensure(name)
    try:
        with IPRoute(netns=name) as ipr:
            ipr.link("add", ifname="probe0", kind="veth", peer={"ifname": "probe1"})
            parent = ipr.link_lookup(ifname="probe0")[0]
            try:
                ipr.link("add", ifname="probe0.7", kind="vlan", link=parent, vlan_id=7)
            except Exception:
                return False
            return True
    finally:
        netns.remove(name)
