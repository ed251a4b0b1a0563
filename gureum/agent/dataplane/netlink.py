"""Netlink through pyroute2: links, addresses, routes and fdb in one namespace.

One `Netlink` per namespace, kept open between reconcile passes (opening one
in another namespace forks a helper). A netlink socket pins its namespace:
`Handles` reopens a handle when the namespace behind a name was replaced (a
new inode), so the old namespace, and the devices left in it, can go away.
Persistent taps are made with the tun ioctls, from a thread inside the
namespace, because a tun device is born in the namespace of whoever opens
/dev/net/tun.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import struct
from dataclasses import dataclass
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from gureum.agent.dataplane import netns

IFF_UP = 0x1
_TUNSETIFF = 0x400454CA
_TUNSETPERSIST = 0x400454CB
_IFF_TAP = 0x0002
_IFF_NO_PI = 0x1000
RTPROT_KERNEL = 2
RTPROT_STATIC = 4
MAIN_TABLE = 254


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    kind: str  # bridge, vxlan, veth, tun, ... ("" for a plain device)
    master: int | None
    alias: str
    mtu: int
    up: bool
    mac: str
    info: dict[str, Any]  # IFLA_INFO_DATA by attribute name (vxlan id, bridge options)


@dataclass(frozen=True)
class Address:
    index: int
    cidr: str  # "10.0.0.1/24"


@dataclass(frozen=True)
class Route:
    destination: str  # "0.0.0.0/0"
    gateway: str | None
    protocol: int


class Netlink:
    """The RTNL requests the dataplane makes, in one namespace."""

    def __init__(self, namespace: str | None) -> None:
        self.namespace = namespace
        self.inode = netns.inode(namespace) if namespace else None
        self._ipr = IPRoute(netns=namespace) if namespace else IPRoute()
        # The last link dump, kept until we change a link or forget() it: decoding a
        # dump is most of what a pass with nothing to do costs.
        self._links: dict[str, Link] | None = None

    def close(self) -> None:
        self._ipr.close()

    # -- links --------------------------------------------------------------

    def links(self) -> dict[str, Link]:
        """Every link by name (a copy: callers may edit it)."""
        if self._links is None:
            self._links = {link.name: link for link in map(_link, self._ipr.link("dump"))}
        return dict(self._links)

    def _change(self, command: str, **arguments: Any) -> None:
        self._links = None
        self._ipr.link(command, **arguments)

    def forget(self) -> None:
        """Read the links again next time (someone else may have changed them)."""
        self._links = None

    def link(self, name: str) -> Link | None:
        try:
            return _link(self._ipr.link("get", ifname=name)[0])
        except NetlinkError as error:
            if error.code == 19:  # ENODEV
                return None
            raise

    def add_bridge(self, name: str, mtu: int, alias: str) -> Link:
        # STP off: a new port forwards at once. nf_call_*: br_netfilter, per bridge
        # rather than the namespace-wide sysctl, so only our bridges go through it.
        self._change("add", ifname=name, kind="bridge", mtu=mtu, br_stp_state=0, br_forward_delay=0,
                       br_nf_call_iptables=1, br_nf_call_ip6tables=1)
        return self._finish(name, alias)

    def set_bridge_filtering(self, link: Link) -> None:
        self._change("set", index=link.index, kind="bridge", br_nf_call_iptables=1, br_nf_call_ip6tables=1)

    def add_vxlan(self, name: str, vni: int, local_ip: str, mtu: int, alias: str) -> Link:
        # No group and no remote: the fdb says where to flood (head-end replication);
        # learning off so only the fdb entries we write decide.
        self._change("add", ifname=name, kind="vxlan", vxlan_id=vni, vxlan_local=local_ip, vxlan_port=4789,
                       vxlan_learning=0, mtu=mtu)
        return self._finish(name, alias)

    def add_vlan(self, name: str, parent: Link, vlan_id: int, mtu: int, alias: str) -> Link:
        self._change("add", ifname=name, kind="vlan", link=parent.index, vlan_id=vlan_id, mtu=mtu)
        return self._finish(name, alias)

    def add_veth(self, name: str, peer: str, peer_namespace: str, peer_mac: str, mtu: int, alias: str) -> Link:
        """A veth pair with its peer born inside `peer_namespace` (no window in this one)."""
        self._change("add", ifname=name, kind="veth", mtu=mtu,
                       peer={"ifname": peer, "net_ns_fd": peer_namespace, "address": peer_mac, "mtu": mtu})
        return self._finish(name, alias)

    def add_tap(self, name: str, mtu: int, alias: str) -> Link:
        netns.run_in(self.namespace, lambda: _create_persistent_tap(name))
        link = self.link(name)
        if link is None:
            raise OSError(f"tap {name} vanished right after it was created")
        self._change("set", index=link.index, mtu=mtu)
        return self._finish(name, alias)

    def _finish(self, name: str, alias: str) -> Link:
        link = self.link(name)
        if link is None:
            raise OSError(f"{name} vanished right after it was created")
        self._change("set", index=link.index, ifalias=alias)
        return self.link(name) or link

    def set_link(self, link: Link, *, master: int | None = None, up: bool | None = None,
                 mtu: int | None = None, mac: str | None = None) -> None:
        changes: dict[str, Any] = {}
        if master is not None and link.master != master:
            changes["master"] = master
        if mtu is not None and link.mtu != mtu:
            changes["mtu"] = mtu
        if mac is not None and link.mac.lower() != mac.lower():
            changes["address"] = mac
        if changes:
            self._change("set", index=link.index, **changes)
        if up is not None and link.up != up:
            self._change("set", index=link.index, state="up" if up else "down")

    def delete_link(self, link: Link) -> None:
        try:
            self._change("del", index=link.index)
        except NetlinkError as error:
            if error.code != 19:
                raise

    # -- addresses and routes ----------------------------------------------

    def addresses(self, link: Link) -> set[str]:
        return {f"{a.get('address')}/{a['prefixlen']}" for a in self._ipr.addr("dump", index=link.index)}

    def sync_addresses(self, link: Link, wanted: set[str]) -> None:
        """Exactly `wanted` on the link (IPv6 link-local addresses are the kernel's)."""
        current = self.addresses(link)
        for cidr in current - wanted:
            if not cidr.startswith("fe80:"):
                address, prefix = cidr.split("/")
                self._ipr.addr("del", index=link.index, address=address, prefixlen=int(prefix))
        for cidr in sorted(wanted - current):
            address, prefix = cidr.split("/")
            self._ipr.addr("add", index=link.index, address=address, prefixlen=int(prefix))

    def routes(self, family: int) -> list[Route]:
        routes = []
        for message in self._ipr.route("dump", family=family, table=MAIN_TABLE):
            destination = message.get("dst") or ("0.0.0.0" if family == 2 else "::")
            routes.append(Route(destination=f"{destination}/{message['dst_len']}",
                                gateway=message.get("gateway"), protocol=message["proto"]))
        return routes

    def add_route(self, destination: str, gateway: str) -> None:
        self._ipr.route("replace", dst=destination, gateway=gateway, proto=RTPROT_STATIC)

    def delete_route(self, route: Route) -> None:
        network = ipaddress.ip_network(route.destination)
        try:
            self._ipr.route("del", dst=str(network), gateway=route.gateway, proto=route.protocol,
                            family=10 if network.version == 6 else 2)
        except NetlinkError as error:
            if error.code != 3:  # ESRCH: already gone
                raise

    # -- vxlan forwarding database -----------------------------------------

    def flood_peers(self, link: Link) -> set[str]:
        """Underlay addresses in the all-zero fdb entries of a VXLAN device."""
        return {entry.get("dst") for entry in self._ipr.fdb("dump", ifindex=link.index)
                if entry["ifindex"] == link.index and entry.get("lladdr") == "00:00:00:00:00:00" and entry.get("dst")}

    def add_flood_peer(self, link: Link, peer: str) -> None:
        self._ipr.fdb("append", ifindex=link.index, lladdr="00:00:00:00:00:00", dst=peer)

    def delete_flood_peer(self, link: Link, peer: str) -> None:
        self._ipr.fdb("del", ifindex=link.index, lladdr="00:00:00:00:00:00", dst=peer)


def _link(message: Any) -> Link:
    info = message.get("IFLA_LINKINFO")
    data = info.get("IFLA_INFO_DATA") if info is not None else None
    attributes = {name: value for name, value in data["attrs"]} if data is not None else {}
    return Link(index=message["index"], name=message.get("ifname"),
                kind=(info.get("IFLA_INFO_KIND") if info is not None else None) or "",
                master=message.get("master"), alias=message.get("ifalias") or "", mtu=message.get("mtu") or 0,
                up=bool(message["flags"] & IFF_UP), mac=message.get("address") or "", info=attributes)


def _create_persistent_tap(name: str) -> None:
    """What `ip tuntap add mode tap` does: a tap that outlives this descriptor.
    QEMU opens it later by name (-netdev tap,ifname=...,script=no)."""
    descriptor = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    try:
        request = struct.pack("16sH", name.encode(), _IFF_TAP | _IFF_NO_PI)
        fcntl.ioctl(descriptor, _TUNSETIFF, request)
        fcntl.ioctl(descriptor, _TUNSETPERSIST, 1)
    finally:
        os.close(descriptor)


class Handles:
    """One open Netlink per namespace, replaced when its namespace was replaced."""

    def __init__(self) -> None:
        self._open: dict[str | None, Netlink] = {}

    def get(self, namespace: str | None) -> tuple[Netlink, bool]:
        """The handle, and whether it is new (the namespace is new or was replaced)."""
        handle = self._open.get(namespace)
        if handle is not None and (namespace is None or handle.inode == netns.inode(namespace)):
            return handle, False
        self.drop(namespace)
        handle = Netlink(namespace)
        self._open[namespace] = handle
        return handle, True

    def forget_links(self) -> None:
        for handle in self._open.values():
            handle.forget()

    def drop(self, namespace: str | None) -> None:
        handle = self._open.pop(namespace, None)
        if handle is not None:
            handle.close()

    def close(self) -> None:
        for namespace in list(self._open):
            self.drop(namespace)
