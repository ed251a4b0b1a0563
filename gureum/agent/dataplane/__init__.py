"""The agent's dataplane: Linux bridges, VXLAN, namespaces, nftables, dnsmasq, metadata.

LinuxDataplane implements the Dataplane seam (base.py). The agent calls
`apply(networking)` on every reconcile pass, before
it starts guests: apply makes this host's network devices match the desired
state, idempotently, and removes what it made that is no longer desired. It
reads the node itself each time (one link dump per namespace, pidfiles), so a
bridge or namespace deleted by hand, or a dnsmasq that died, is rebuilt on the
next pass, and a new LinuxDataplane over a running node (agent restart) adopts what
is there without disturbing traffic. One broken network or router never stops
the others: its error, in plain words, goes in the observation by id.

Where things live:
* host namespace (`host_netns`, or the root namespace when None): one bridge
  per network, VXLAN devices, guest taps, the host ends of router and DHCP
  legs, and the security group tables (see firewall.py);
* `{prefix}qdhcp-<network>`: the DHCP leg, dnsmasq (dhcp.py), the metadata
  server (metadata.py) and the DNS relay (dns.py), both served from this process;
* `{prefix}qrouter-<router>`: router legs, routes and NAT (routers.py).
In the root namespace nothing of the host's own is touched: only devices that
carry our alias, our own nft tables, and the mapped bridges of flat networks.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from gureum.agent.dataplane.base import Dataplane, NetworkObservation
from gureum.agent.dataplane import bridges, dhcp, firewall, names, netns, nft, ports, probe, routers
from gureum.agent.dataplane.bridges import BuiltNetwork, NetworkContext
from gureum.agent.dataplane.errors import DataplaneError, describe
from gureum.agent.dataplane.legs import LegSpec, ensure_leg, ensure_loopback
from gureum.agent.dataplane.dns import DnsRelays, Upstream
from gureum.agent.dataplane.metadata import MetadataServers
from gureum.agent.dataplane.netlink import RTPROT_KERNEL, RTPROT_STATIC, Handles, Link, Netlink
from gureum.agent.hypervisor.instance_metadata import InstanceMetadata
from gureum.agent.protocol import DesiredNetwork, DesiredNetworking, DesiredPort, DesiredRouter

__all__ = ["Dataplane", "DataplaneError", "LinuxDataplane", "NetworkObservation"]

log = logging.getLogger(__name__)

MetadataLookup = Callable[[str, str], InstanceMetadata | None]
Tables = dict[tuple[str, str], str | None]
_IPV4, _IPV6 = 2, 10
# A table someone deleted by hand comes back within this many seconds.
_VERIFY_SECONDS = 10.0


class LinuxDataplane(Dataplane):
    def __init__(self, state_dir: Path, host_netns: str | None = None, bridge_mappings: dict[str, str] | None = None,
                 local_ip: str = "", name_prefix: str = "", metadata_lookup: MetadataLookup | None = None,
                 guest_dns: bool = True, dns_upstreams: list[Upstream] | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.host_netns = host_netns
        self.bridge_mappings = dict(bridge_mappings or {})
        self.local_ip = local_ip
        self.name_prefix = name_prefix
        self._alias = names.owner_alias(name_prefix)
        self._filter_table = names.table_name(name_prefix, "filter")
        self._router_table = names.table_name(name_prefix, "router")
        self._handles = Handles()
        self._metadata = MetadataServers(metadata_lookup)
        # guest_dns: DHCP ports answer DNS (upstreams None: the host's /etc/resolv.conf).
        self._dns = DnsRelays(dns_upstreams, enabled=guest_dns)
        # namespace -> (its inode, the tables last written there): skip nft when unchanged.
        self._written: dict[str | None, tuple[int | None, Tables]] = {}
        self._verified: dict[str | None, float] = {}  # when nft last confirmed them
        self._lock = threading.Lock()

    # -- what the agent asks -------------------------------------------------

    def tap_name(self, port_id: str) -> str:
        return names.tap_name(port_id)

    def command_prefix(self) -> list[str]:
        """Run QEMU under this, so it opens its taps in the host namespace."""
        return ["ip", "netns", "exec", self.host_netns] if self.host_netns else []

    def vlan_supported(self) -> bool:
        return probe.vlan_supported()

    def apply(self, networking: DesiredNetworking) -> NetworkObservation:
        with self._lock:
            return self._apply(networking)

    def remove_all(self) -> None:
        """Everything this dataplane made (not the host namespace itself)."""
        with self._lock:
            self._metadata.close()
            self._dns.close()
            for namespace in self._own_namespaces():
                self._remove_namespace(namespace)
            for directory in self._dhcp_dirs():
                dhcp.stop(dhcp.DhcpPaths(directory))
            shutil.rmtree(self.state_dir / "dhcp", ignore_errors=True)
            if self.host_netns is None or netns.inode(self.host_netns) is not None:
                host, _ = self._handles.get(self.host_netns)
                for link in host.links().values():
                    if link.alias == self._alias:
                        host.delete_link(link)
                nft.delete_tables(self.host_netns, [("bridge", self._filter_table), ("inet", self._filter_table)])
            self._handles.close()
            self._written.clear()
            self._verified.clear()

    def close(self) -> None:
        with self._lock:
            self._metadata.close()
            self._dns.close()
            self._handles.close()

    # -- one pass -------------------------------------------------------------

    def _apply(self, networking: DesiredNetworking) -> NetworkObservation:
        errors: dict[str, str] = {}
        up: list[str] = []
        floating_up: list[str] = []
        host = self._host()
        context = NetworkContext(bridge_mappings=self.bridge_mappings, local_ip=self.local_ip, alias=self._alias,
                                 vlan_supported=self._vlan_if_needed(networking))

        links = host.links()
        built: dict[str, BuiltNetwork] = {}
        for network in networking.networks:
            try:
                built[network.id] = bridges.ensure_network(host, links, network, context)
            except Exception as error:
                errors[network.id] = describe(error)

        guest_ports = self._ports_with_networks(networking, built, errors)
        filtered = self._write_firewall(host, guest_ports, networking, built, errors)

        links = host.links()
        for port in guest_ports:
            if port.port_security_enabled and not filtered:
                errors[port.id] = ("not plugged: its security group rules could not be written "
                                   f"({errors.get('firewall', 'see the host error')})")
                continue
            try:
                ports.ensure_tap(host, links, port, built[port.network_id].bridge, self._mtu(networking, port),
                                 self._alias)
                up.append(port.id)
            except Exception as error:
                errors[port.id] = f"tap {names.tap_name(port.id)} could not be plugged: {describe(error)}"

        links = host.links()
        for network in networking.networks:
            if network.dhcp_port_id and network.id in built:
                try:
                    self._ensure_dhcp(host, links, network, built[network.id],
                                      [p for p in networking.ports if p.network_id == network.id])
                    up.append(network.dhcp_port_id)
                except Exception as error:
                    errors[network.id] = f"DHCP and metadata: {describe(error)}"

        mtus = {network.id: network.mtu for network in networking.networks}
        for router in networking.routers:
            if not router.admin_state_up:
                continue
            try:
                legs_up, fips_up, problems = self._ensure_router(host, links, router, built, mtus)
                up += legs_up
                floating_up += fips_up
                if problems:
                    errors[router.id] = "; ".join(problems)
            except Exception as error:
                errors[router.id] = describe(error)

        try:
            self._collect_garbage(host, networking, context)
        except Exception as error:
            errors["garbage"] = f"could not remove what is no longer desired: {describe(error)}"
        return NetworkObservation(ports_up=up, floating_ips_up=floating_up, errors=errors)

    def _host(self) -> Netlink:
        if self.host_netns:
            netns.ensure(self.host_netns)
        self._handles.forget_links()  # a pass starts from what the node has now
        handle, _ = self._handles.get(self.host_netns)
        return handle

    def _vlan_if_needed(self, networking: DesiredNetworking) -> bool:
        # Probing makes a namespace: only when a vlan network is asked for.
        return any(n.network_type == "vlan" for n in networking.networks) and probe.vlan_supported()

    @staticmethod
    def _mtu(networking: DesiredNetworking, port: DesiredPort) -> int:
        return next(n.mtu for n in networking.networks if n.id == port.network_id)

    @staticmethod
    def _ports_with_networks(networking: DesiredNetworking, built: dict[str, BuiltNetwork],
                             errors: dict[str, str]) -> list[DesiredPort]:
        described = {network.id for network in networking.networks}
        ready = []
        for port in networking.ports:
            if port.network_id in built:
                ready.append(port)
            elif port.network_id in described:
                errors[port.id] = f"its network {port.network_id} could not be built on this host (see that error)"
            else:
                errors[port.id] = (f"its network {port.network_id} is missing from this host's desired "
                                   "networking: the controller must describe every network a port is on")
        return ready

    # -- firewall -------------------------------------------------------------

    def _write_firewall(self, host: Netlink, guest_ports: list[DesiredPort], networking: DesiredNetworking,
                        built: dict[str, BuiltNetwork], errors: dict[str, str]) -> bool:
        try:
            numbered = firewall.number_ports((names.tap_name(p.id), p) for p in guest_ports)
            bridge_names = sorted({built[p.port.network_id].bridge.name for p in numbered})
            zones = {b.bridge.name: bridges.conntrack_zone(network_id) for network_id, b in built.items() if b.owned}
            tunnels = [names.vxlan_name(n.segmentation_id) for n in networking.networks
                       if n.id in built and n.network_type == "vxlan" and n.segmentation_id is not None]
            ruleset = firewall.render(numbered, {g.id: g for g in networking.security_groups}, bridge_names, zones,
                                      tunnels)
            self._sync_tables(self.host_netns, {("bridge", self._filter_table): ruleset.bridge_body,
                                                ("inet", self._filter_table): ruleset.inet_body})
            return True
        except Exception as error:
            errors["firewall"] = f"security group rules could not be written: {describe(error)}"
            return False

    def _sync_tables(self, namespace: str | None, tables: Tables) -> None:
        """Write the tables when they changed or vanished. Whether they are still there is
        asked of nft (a fork) at most every _VERIFY_SECONDS; a replaced namespace is seen at once."""
        inode = netns.inode(namespace) if namespace else None
        if self._written.get(namespace) == (inode, tables):
            if time.monotonic() - self._verified.get(namespace, 0.0) < _VERIFY_SECONDS:
                return
            existing = nft.existing_tables(namespace)
            if all((key in existing) == (body is not None) for key, body in tables.items()):
                self._verified[namespace] = time.monotonic()
                return
        elif all(body is None for body in tables.values()) and not set(tables) & nft.existing_tables(namespace):
            self._written[namespace] = (inode, tables)  # nothing to write, nothing to remove
            return
        self._written.pop(namespace, None)
        nft.replace_tables(namespace, tables)
        self._written[namespace] = (inode, tables)
        self._verified[namespace] = time.monotonic()

    # -- DHCP and metadata ------------------------------------------------------

    def _ensure_dhcp(self, host: Netlink, host_links: dict[str, Link], network: DesiredNetwork,
                     built: BuiltNetwork, network_ports: list[DesiredPort]) -> None:
        assert network.dhcp_port_id
        if not network.dhcp_mac:
            raise DataplaneError(f"the DHCP port {network.dhcp_port_id} has no MAC address in the desired state")
        namespace = names.dhcp_namespace(self.name_prefix, network.id)
        netns.ensure(namespace)
        inner, _ = self._handles.get(namespace)
        inner_links = inner.links()
        ensure_loopback(inner, inner_links)
        spec = LegSpec(host_name=names.tap_name(network.dhcp_port_id),
                       inner_name=names.dhcp_leg_name(network.dhcp_port_id), mac=network.dhcp_mac, mtu=network.mtu,
                       addresses=frozenset(dhcp.leg_addresses(network) | {f"{names.METADATA_ADDRESS}/32"}))
        self._drop_other_legs(inner, inner_links, {spec.inner_name})
        ensure_leg(host, host_links, inner, inner_links, spec, built.bridge, self._alias)
        self._metadata.ensure(namespace, network.id)
        self._dns.ensure(namespace, [f.ip_address for f in network.dhcp_fixed_ips if ":" not in f.ip_address])
        paths = dhcp.DhcpPaths(self.state_dir / "dhcp" / network.id)
        if dhcp.dhcp_subnets(network):
            dhcp.ensure_dnsmasq(namespace, network, spec.inner_name, network_ports, paths,
                                dns_relay=self._dns.enabled)
        else:
            dhcp.stop(paths)

    @staticmethod
    def _drop_other_legs(inner: Netlink, inner_links: dict[str, Link], wanted: set[str]) -> None:
        for link in list(inner_links.values()):
            if link.kind == "veth" and link.name not in wanted:
                inner.delete_link(link)
                del inner_links[link.name]

    # -- routers ------------------------------------------------------------------

    def _ensure_router(self, host: Netlink, host_links: dict[str, Link], router: DesiredRouter,
                       built: dict[str, BuiltNetwork], mtus: dict[str, int]) -> tuple[list[str], list[str], list[str]]:
        problems = routers.check_networks(router, set(built))
        if router.floating_ips and router.gateway is None:
            problems.append("it has floating IPs but no external gateway: set one "
                            "(openstack router set --external-gateway <network>)")
        plan = routers.plan(router, mtus)
        namespace = names.router_namespace(self.name_prefix, router.id)
        netns.ensure(namespace)
        inner, fresh = self._handles.get(namespace)
        if fresh:  # a new namespace, or one this process has not seen yet: cheap to state again
            netns.write_sysctl(namespace, "net.ipv4.ip_forward", "1")
            netns.write_sysctl(namespace, "net.ipv6.conf.all.forwarding", "1")
        inner_links = inner.links()
        ensure_loopback(inner, inner_links)
        self._drop_other_legs(inner, inner_links, {spec.inner_name for _, spec in plan.legs.values()})
        legs_up = []
        for port_id, (leg, spec) in plan.legs.items():
            if leg.network_id not in built:
                continue
            try:
                ensure_leg(host, host_links, inner, inner_links, spec, built[leg.network_id].bridge, self._alias)
                legs_up.append(port_id)
            except Exception as error:
                problems.append(f"leg {spec.inner_name} (port {port_id}): {describe(error)}")
        try:
            self._sync_routes(inner, plan.routes)
        except Exception as error:
            problems.append(f"routes: {describe(error)}")
        floating_up: list[str] = []
        try:
            self._sync_tables(namespace, {("ip", self._router_table): plan.nat_body})
            if router.gateway is not None and router.gateway.port_id in legs_up:
                floating_up = plan.floating_ip_ids
        except Exception as error:
            problems.append(f"NAT rules: {describe(error)}")
        return legs_up, floating_up, problems

    @staticmethod
    def _sync_routes(inner: Netlink, wanted: set[tuple[str, str]]) -> None:
        for family in (_IPV4, _IPV6):
            # The kernel's own routes (connected subnets, link-local) are left alone.
            current = {(r.destination, r.gateway): r for r in inner.routes(family)
                       if r.protocol != RTPROT_KERNEL and (family == _IPV4 or r.protocol == RTPROT_STATIC)}
            mine = {(d, n) for d, n in wanted if (":" in d) == (family == _IPV6)}
            for key, route in current.items():
                if key not in mine:
                    inner.delete_route(route)
            for destination, nexthop in sorted(mine - set(current)):
                inner.add_route(destination, nexthop)

    # -- garbage --------------------------------------------------------------------

    def _collect_garbage(self, host: Netlink, networking: DesiredNetworking, context: NetworkContext) -> None:
        keep: set[str] = set()
        wanted_namespaces: set[str] = set()
        for network in networking.networks:
            keep |= bridges.device_names(network, context)
            if network.dhcp_port_id:
                keep.add(names.tap_name(network.dhcp_port_id))
                wanted_namespaces.add(names.dhcp_namespace(self.name_prefix, network.id))
        keep |= {names.tap_name(port.id) for port in networking.ports}
        for router in networking.routers:
            if router.admin_state_up:
                wanted_namespaces.add(names.router_namespace(self.name_prefix, router.id))
                keep |= {names.tap_name(leg.port_id)
                         for leg in [*router.interfaces, *([router.gateway] if router.gateway else [])]}
        for namespace in self._own_namespaces():
            if namespace not in wanted_namespaces:
                self._remove_namespace(namespace)
        for namespace in self._metadata.namespaces():
            if namespace not in wanted_namespaces:
                self._metadata.stop(namespace)
        for namespace in self._dns.namespaces():
            if namespace not in wanted_namespaces:
                self._dns.stop(namespace)
        wanted_dhcp = {network.id for network in networking.networks if network.dhcp_port_id}
        for directory in self._dhcp_dirs():
            if directory.name not in wanted_dhcp:
                dhcp.stop(dhcp.DhcpPaths(directory))
                shutil.rmtree(directory, ignore_errors=True)
        for link in host.links().values():
            if link.alias == self._alias and link.name not in keep:
                host.delete_link(link)

    def _own_namespaces(self) -> list[str]:
        return (netns.names_with_prefix(self.name_prefix + names.ROUTER_NS)
                + netns.names_with_prefix(self.name_prefix + names.DHCP_NS))

    def _dhcp_dirs(self) -> list[Path]:
        root = self.state_dir / "dhcp"
        return sorted(path for path in root.iterdir() if path.is_dir()) if root.is_dir() else []

    def _remove_namespace(self, namespace: str) -> None:
        self._metadata.stop(namespace)
        self._dns.stop(namespace)
        self._handles.drop(namespace)
        self._written.pop(namespace, None)
        self._verified.pop(namespace, None)
        netns.remove(namespace)
