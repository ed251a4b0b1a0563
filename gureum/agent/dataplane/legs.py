"""A leg: a veth pair joining a namespace (router or DHCP) to a network's bridge.

The host end is named like any port's tap (tap<port>) and plugged on the
bridge; the inner end (qr-, qg-, ns-) carries the port's MAC and addresses.
A host end whose inner end is gone (its namespace was deleted and made again)
is stale: it is deleted, which removes the whole pair, and the pair is made
again, so a repaired namespace never leaves a dead port on the bridge.
"""

from __future__ import annotations

from dataclasses import dataclass

from gureum.agent.dataplane.netlink import Link, Netlink


@dataclass(frozen=True)
class LegSpec:
    host_name: str  # on the bridge, in the host namespace
    inner_name: str  # in the router or DHCP namespace
    mac: str
    mtu: int
    addresses: frozenset[str]  # "10.0.0.1/24"
    up: bool = True


def ensure_leg(host: Netlink, host_links: dict[str, Link], inner: Netlink, inner_links: dict[str, Link],
               spec: LegSpec, bridge: Link, alias: str) -> None:
    inner_link = inner_links.get(spec.inner_name)
    host_link = host_links.get(spec.host_name)
    if inner_link is None or inner_link.kind != "veth" or host_link is None or host_link.kind != "veth":
        for stale, handle in ((host_link, host), (inner_link, inner)):
            if stale is not None:
                handle.delete_link(stale)
        if inner.namespace is None:
            raise ValueError("a leg's inner end must be in a named namespace")
        host_link = host.add_veth(spec.host_name, spec.inner_name, inner.namespace, spec.mac, spec.mtu, alias)
        inner_link = inner.link(spec.inner_name)
        if inner_link is None:
            raise OSError(f"{spec.inner_name} did not appear in {inner.namespace}")
    host.set_link(host_link, master=bridge.index, mtu=spec.mtu, up=True)
    inner.set_link(inner_link, mac=spec.mac, mtu=spec.mtu, up=spec.up)
    inner.sync_addresses(inner_link, set(spec.addresses))


def ensure_loopback(inner: Netlink, inner_links: dict[str, Link]) -> None:
    loopback = inner_links.get("lo")
    if loopback is not None:
        inner.set_link(loopback, up=True)
