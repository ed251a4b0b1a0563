"""A network on this host: the Linux bridge its ports plug into.

* vxlan: a bridge of ours (brq<net>) with a VXLAN device (vx-<vni>, dstport
  4789, learning off) and one all-zero fdb entry per peer host: broadcast and
  unknown unicast are copied to every peer (head-end replication, Neutron's
  l2population idea), so the underlay needs no multicast.
* flat: the bridge bridge_mappings names for the physical network is the
  network's bridge; it belongs to the operator, so only br_netfilter is
  switched on for it (our ports on it are filtered) and it is set up.
* vlan: a bridge of ours holding an 802.1Q device on the mapped device; the
  kernel must support 802.1Q (see probe.vlan_supported).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from gureum.agent.dataplane import names
from gureum.agent.dataplane.errors import DataplaneError
from gureum.agent.dataplane.netlink import Link, Netlink
from gureum.agent.protocol import DesiredNetwork


@dataclass(frozen=True)
class NetworkContext:
    bridge_mappings: dict[str, str]
    local_ip: str
    alias: str
    vlan_supported: bool


@dataclass(frozen=True)
class BuiltNetwork:
    bridge: Link
    owned: bool  # our brq bridge (False: a mapped bridge of the operator's)


def device_names(network: DesiredNetwork, context: NetworkContext) -> set[str]:
    """The devices of ours a network keeps (what garbage collection must not remove)."""
    if network.network_type == "vxlan" and network.segmentation_id is not None:
        return {names.bridge_name(network.id), names.vxlan_name(network.segmentation_id)}
    if network.network_type == "vlan" and network.segmentation_id is not None:
        mapped = context.bridge_mappings.get(network.physical_network, "")
        return {names.bridge_name(network.id), names.vlan_name(mapped, network.segmentation_id)}
    return set()


def conntrack_zone(network_id: str) -> int:
    """A stable zone per network (existing connections keep theirs across rewrites);
    two networks that share one only lose the separation of equal address pairs."""
    return int(hashlib.sha256(network_id.encode()).hexdigest()[:8], 16) % 65000 + 1


def ensure_network(host: Netlink, links: dict[str, Link], network: DesiredNetwork,
                   context: NetworkContext) -> BuiltNetwork:
    if network.network_type == "vxlan":
        return BuiltNetwork(bridge=_ensure_vxlan(host, links, network, context), owned=True)
    if network.network_type == "flat":
        return BuiltNetwork(bridge=_ensure_flat(host, links, network, context), owned=False)
    if network.network_type == "vlan":
        return BuiltNetwork(bridge=_ensure_vlan(host, links, network, context), owned=True)
    raise DataplaneError(f"network {network.id} has type {network.network_type!r}; this host builds flat, "
                         "vlan and vxlan networks only (no GRE, Geneve or local): recreate it as vxlan")


def _ensure_own_bridge(host: Netlink, links: dict[str, Link], network: DesiredNetwork, alias: str) -> Link:
    name = names.bridge_name(network.id)
    bridge = links.get(name)
    if bridge is not None and bridge.kind != "bridge":
        host.delete_link(bridge)
        bridge = None
    if bridge is None:
        bridge = host.add_bridge(name, network.mtu, alias)
    elif not _filtering(bridge):
        host.set_bridge_filtering(bridge)
    host.set_link(bridge, mtu=network.mtu, up=True)
    return bridge


def _filtering(bridge: Link) -> bool:
    return bool(bridge.info.get("IFLA_BR_NF_CALL_IPTABLES")) and bool(bridge.info.get("IFLA_BR_NF_CALL_IP6TABLES"))


def _ensure_vxlan(host: Netlink, links: dict[str, Link], network: DesiredNetwork, context: NetworkContext) -> Link:
    vni = network.segmentation_id
    if vni is None or not 1 <= vni <= 16777215:
        raise DataplaneError(f"vxlan network {network.id} has no valid segmentation id (VNI 1-16777215): "
                             "the controller must allocate one")
    if not context.local_ip:
        raise DataplaneError(f"vxlan network {network.id} needs this host's underlay address: set the agent's "
                             "local IP (the address other hosts reach this one on)")
    bridge = _ensure_own_bridge(host, links, network, context.alias)
    name = names.vxlan_name(vni)
    device = links.get(name)
    if device is not None and (device.kind != "vxlan" or device.info.get("IFLA_VXLAN_ID") != vni
                               or device.info.get("IFLA_VXLAN_LOCAL") != context.local_ip
                               or device.info.get("IFLA_VXLAN_LEARNING")):
        host.delete_link(device)
        device = None
    if device is None:
        try:
            device = host.add_vxlan(name, vni, context.local_ip, network.mtu, context.alias)
        except Exception as error:
            raise DataplaneError(f"could not create VXLAN device {name} (VNI {vni}, local {context.local_ip}) "
                                 f"for network {network.id}: {error}; check that {context.local_ip} is an "
                                 "address of this host") from error
    host.set_link(device, master=bridge.index, mtu=network.mtu, up=True)
    _sync_flood_peers(host, device, {peer for peer in network.vxlan_peers if peer != context.local_ip})
    return bridge


def _sync_flood_peers(host: Netlink, device: Link, wanted: set[str]) -> None:
    current = host.flood_peers(device)
    for peer in current - wanted:
        host.delete_flood_peer(device, peer)
    for peer in sorted(wanted - current):
        host.add_flood_peer(device, peer)


def _mapped_device(links: dict[str, Link], network: DesiredNetwork, context: NetworkContext) -> Link:
    physical = network.physical_network
    mapped = context.bridge_mappings.get(physical)
    if not mapped:
        known = ", ".join(f"{k}:{v}" for k, v in sorted(context.bridge_mappings.items())) or "none"
        raise DataplaneError(f"{network.network_type} network {network.id} is on physical network {physical!r}, "
                             f"which this host does not map to a bridge (bridge_mappings: {known}); add "
                             f"'{physical or '<physical network>'}:<bridge>' to the agent's bridge_mappings")
    device = links.get(mapped)
    if device is None:
        raise DataplaneError(f"bridge {mapped} (bridge_mappings {physical}:{mapped}) does not exist on this host: "
                             f"create it (ip link add {mapped} type bridge) or fix the mapping")
    return device


def _ensure_flat(host: Netlink, links: dict[str, Link], network: DesiredNetwork, context: NetworkContext) -> Link:
    bridge = _mapped_device(links, network, context)
    if bridge.kind != "bridge":
        raise DataplaneError(f"{bridge.name} (mapped for physical network {network.physical_network!r}) is a "
                             f"{bridge.kind or 'plain'} device, not a bridge: map the physical network to a "
                             "Linux bridge that holds the uplink")
    if not _filtering(bridge):
        host.set_bridge_filtering(bridge)
    host.set_link(bridge, up=True)
    return bridge


def _ensure_vlan(host: Netlink, links: dict[str, Link], network: DesiredNetwork, context: NetworkContext) -> Link:
    if not context.vlan_supported:
        raise DataplaneError(f"vlan network {network.id} cannot be built: this host's kernel has no 802.1Q "
                             "(8021q) support; load the 8021q module and restart the agent, or use a vxlan network")
    vid = network.segmentation_id
    if vid is None or not 1 <= vid <= 4094:
        raise DataplaneError(f"vlan network {network.id} has no valid VLAN id (1-4094): the controller must "
                             "allocate one")
    parent = _mapped_device(links, network, context)
    bridge = _ensure_own_bridge(host, links, network, context.alias)
    name = names.vlan_name(parent.name, vid)
    device = links.get(name)
    if device is not None and device.kind != "vlan":
        host.delete_link(device)
        device = None
    if device is None:
        device = host.add_vlan(name, parent, vid, network.mtu, context.alias)
    host.set_link(device, master=bridge.index, mtu=network.mtu, up=True)
    return bridge
