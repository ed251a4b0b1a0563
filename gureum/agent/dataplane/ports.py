"""A guest's port: a persistent tap on its network's bridge, made before QEMU starts.

QEMU opens the tap by name (-netdev tap,ifname=...,script=no,downscript=no)
and does not bring it up or plug it anywhere: the tap is up and on the bridge
already, and its firewall rules were written before it was plugged (the rules
name the tap, so they can exist before it does). Persistent, so it outlives
QEMU restarts (reboot, resize) and the port keeps its place on the bridge.
admin_state_up false keeps the link down: no frame passes either way.
The port is "up" once the tap is on the bridge with the right state.
"""

from __future__ import annotations

from gureum.agent.dataplane import names
from gureum.agent.dataplane.netlink import Link, Netlink
from gureum.agent.protocol import DesiredPort


def ensure_tap(host: Netlink, links: dict[str, Link], port: DesiredPort, bridge: Link, mtu: int,
               alias: str) -> Link:
    name = names.tap_name(port.id)
    tap = links.get(name)
    # A device already under the port's name is adopted as it is: our tap from an
    # earlier pass, or a stand-in someone plugged for the port (a veth in tests).
    # Only devices we created carry our alias, so only those are ever deleted.
    if tap is None:
        tap = host.add_tap(name, mtu, alias)
    host.set_link(tap, master=bridge.index, mtu=mtu, up=port.admin_state_up)
    return tap


def plugged(link: Link | None, bridge: Link, port: DesiredPort) -> bool:
    return link is not None and link.master == bridge.index and link.up == port.admin_state_up
