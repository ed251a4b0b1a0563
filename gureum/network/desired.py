"""What each host's dataplane must build, read from the network tables.

A host needs a network when it has a port on it: a guest's (bound by the
scheduler), its own DHCP port, or a leg of a router placed on it. Everything an
agent builds follows from that set, so the agent never asks for more than its
desired state and a restart of either side rebuilds the same dataplane.

DHCP is per host: each host that runs guests on a network gets a DHCP port
there, and its dnsmasq answers only for that host's guests. So a guest's DHCP
and metadata never depend on another host being up, and nothing has to be
scheduled for DHCP.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from gureum.agent.protocol import (
    DesiredFixedIp,
    DesiredFloatingIp,
    DesiredNetwork,
    DesiredNetworking,
    DesiredPort,
    DesiredRouter,
    DesiredRouterLeg,
    DesiredRule,
    DesiredSecurityGroup,
    DesiredSubnet,
)
from gureum.compute.hosts import is_up
from gureum.compute.models import Host, Instance
from gureum.network import ipam
from gureum.network.routers import ROUTER_GATEWAY, ROUTER_INTERFACE
from gureum.network.models import (
    FloatingIP,
    IPAllocation,
    Network,
    Port,
    Router,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)

DHCP_OWNER = "network:dhcp"
ROUTER_OWNERS = (ROUTER_INTERFACE, ROUTER_GATEWAY)
GUEST_OWNER_PREFIX = "compute:"
# Neutron names a DHCP port's device "dhcp<host uuid>-<network id>"; the host part is
# derived from the host's name so it is the same on every controller.
_DHCP_NAMESPACE = uuid.UUID("5d6f0a52-6a0e-4b8e-9a55-67d1c1f3e0a1")


def dhcp_device_id(hostname: str, network_id: str) -> str:
    return f"dhcp{uuid.uuid5(_DHCP_NAMESPACE, hostname)}-{network_id}"


# -- the desired networking of one host --------------------------------------------------


def host_networking(session: Session, hostname: str) -> DesiredNetworking:
    guest_ports = list(session.scalars(select(Port).where(
        Port.binding_host_id == hostname, Port.device_owner.like(f"{GUEST_OWNER_PREFIX}%"))))
    dhcp_ports = {p.network_id: p for p in session.scalars(select(Port).where(
        Port.binding_host_id == hostname, Port.device_owner == DHCP_OWNER))}
    routers = list(session.scalars(select(Router).where(Router.host == hostname)))
    router_ids = [r.id for r in routers]
    legs = list(session.scalars(select(Port).where(
        Port.device_id.in_(router_ids), Port.device_owner.in_(ROUTER_OWNERS)))) if router_ids else []
    all_ports = guest_ports + list(dhcp_ports.values()) + legs
    fixed = _fixed_ips(session, [p.id for p in all_ports])
    network_ids = {p.network_id for p in all_ports}
    networks = {n.id: n for n in session.scalars(select(Network).where(Network.id.in_(network_ids)))}
    subnets_by_network: dict[str, list[Subnet]] = defaultdict(list)
    for subnet in session.scalars(select(Subnet).where(Subnet.network_id.in_(network_ids))
                                  .order_by(Subnet.created_at, Subnet.id)):
        subnets_by_network[subnet.network_id].append(subnet)
    peers = _vxlan_peers(session, hostname, [n.id for n in networks.values() if n.network_type == "vxlan"])
    hostnames = _instance_hostnames(session, {p.device_id for p in guest_ports})
    return DesiredNetworking(
        networks=[_network(net, subnets_by_network[net.id], peers.get(net.id, []), dhcp_ports.get(net.id), fixed)
                  for net in sorted(networks.values(), key=lambda n: n.id)],
        ports=[_guest_port(p, fixed, hostnames.get(p.device_id, "")) for p in guest_ports],
        security_groups=_security_groups(session, guest_ports),
        routers=[_router(session, r, [leg for leg in legs if leg.device_id == r.id], fixed, subnets_by_network)
                 for r in routers],
    )


def _fixed_ips(session: Session, port_ids: list[str]) -> dict[str, list[DesiredFixedIp]]:
    by_port: dict[str, list[DesiredFixedIp]] = defaultdict(list)
    if port_ids:
        for alloc in session.scalars(select(IPAllocation).where(IPAllocation.port_id.in_(port_ids))
                                     .order_by(IPAllocation.id)):
            by_port[alloc.port_id].append(DesiredFixedIp(subnet_id=alloc.subnet_id, ip_address=alloc.ip_address))
    return by_port


def _vxlan_peers(session: Session, hostname: str, network_ids: list[str]) -> dict[str, list[str]]:
    """Underlay addresses of the other hosts with a port on each VXLAN network."""
    if not network_ids:
        return {}
    rows = session.execute(select(Port.network_id, Port.binding_host_id).where(
        Port.network_id.in_(network_ids), Port.binding_host_id != "", Port.binding_host_id != hostname).distinct())
    hosts_by_network: dict[str, set[str]] = defaultdict(set)
    for network_id, other in rows:
        hosts_by_network[network_id].add(other)
    names = set().union(*hosts_by_network.values()) if hosts_by_network else set()
    address = {h.hostname: h.host_ip for h in session.scalars(select(Host).where(Host.hostname.in_(names)))}
    return {network_id: sorted({address[h] for h in others if address.get(h)})
            for network_id, others in hosts_by_network.items()}


def _instance_hostnames(session: Session, uuids: set[str]) -> dict[str, str]:
    if not uuids:
        return {}
    return dict(session.execute(select(Instance.uuid, Instance.hostname).where(Instance.uuid.in_(uuids))).all())


def _network(net: Network, subnets: list[Subnet], peers: list[str], dhcp: Port | None,
             fixed: dict[str, list[DesiredFixedIp]]) -> DesiredNetwork:
    return DesiredNetwork(
        id=net.id,
        network_type=net.network_type,
        physical_network=net.physical_network or "",
        segmentation_id=net.segmentation_id,
        mtu=net.mtu,
        subnets=[DesiredSubnet(id=s.id, cidr=s.cidr, ip_version=s.ip_version, gateway_ip=s.gateway_ip,
                               enable_dhcp=s.enable_dhcp, dns_nameservers=list(s.dns_nameservers or []),
                               host_routes=[dict(r) for r in s.host_routes or []]) for s in subnets],
        vxlan_peers=peers,
        dhcp_port_id=dhcp.id if dhcp else None,
        dhcp_mac=dhcp.mac_address if dhcp else None,
        dhcp_fixed_ips=fixed.get(dhcp.id, []) if dhcp else [],
    )


def _guest_port(port: Port, fixed: dict[str, list[DesiredFixedIp]], hostname: str) -> DesiredPort:
    return DesiredPort(
        id=port.id,
        mac=port.mac_address,
        network_id=port.network_id,
        device_id=port.device_id,
        fixed_ips=fixed.get(port.id, []),
        hostname=hostname,
        admin_state_up=port.admin_state_up,
        port_security_enabled=port.port_security_enabled,
        security_group_ids=list(port.security_groups or []) if port.port_security_enabled else [],
        allowed_address_pairs=[dict(p) for p in port.allowed_address_pairs or []],
    )


def _security_groups(session: Session, ports: list[Port]) -> list[DesiredSecurityGroup]:
    group_ids = sorted({g for p in ports if p.port_security_enabled for g in p.security_groups or []})
    if not group_ids:
        return []
    rules_by_group: dict[str, list[SecurityGroupRule]] = defaultdict(list)
    for rule in session.scalars(select(SecurityGroupRule).where(SecurityGroupRule.security_group_id.in_(group_ids))
                                .order_by(SecurityGroupRule.created_at, SecurityGroupRule.id)):
        rules_by_group[rule.security_group_id].append(rule)
    remote_ids = {r.remote_group_id for rules in rules_by_group.values() for r in rules if r.remote_group_id}
    members = _group_members(session, remote_ids | set(group_ids))
    stateful = dict(session.execute(select(SecurityGroup.id, SecurityGroup.stateful)
                                    .where(SecurityGroup.id.in_(group_ids))).all())
    return [
        DesiredSecurityGroup(
            id=group_id,
            stateful=bool(stateful.get(group_id, True)),
            rules=[DesiredRule(direction=r.direction, ethertype=r.ethertype, protocol=r.protocol,
                               port_range_min=r.port_range_min, port_range_max=r.port_range_max,
                               remote_ip_prefix=r.remote_ip_prefix, remote_group_id=r.remote_group_id)
                   for r in rules_by_group[group_id]],
            member_ips=members.get(group_id, []),
        )
        for group_id in group_ids
        if group_id in stateful
    ]


def _group_members(session: Session, group_ids: set[str]) -> dict[str, list[str]]:
    """Every address (fixed IPs and address pairs) of the ports in each group, on any host."""
    if not group_ids:
        return {}
    projects = set(session.scalars(select(SecurityGroup.project_id).where(SecurityGroup.id.in_(group_ids))))
    ports = [p for p in session.scalars(select(Port).where(Port.project_id.in_(projects)))
             if set(p.security_groups or []) & group_ids]
    fixed = _fixed_ips(session, [p.id for p in ports])
    members: dict[str, set[str]] = defaultdict(set)
    for port in ports:
        addresses = {f.ip_address for f in fixed.get(port.id, [])}
        addresses |= {pair["ip_address"] for pair in port.allowed_address_pairs or []}
        for group_id in set(port.security_groups or []) & group_ids:
            members[group_id] |= addresses
    return {g: sorted(a) for g, a in members.items()}


def _router(session: Session, router: Router, legs: list[Port], fixed: dict[str, list[DesiredFixedIp]],
            subnets_by_network: dict[str, list[Subnet]]) -> DesiredRouter:
    cidrs = {s.id: s for subnets in subnets_by_network.values() for s in subnets}

    def leg(port: Port) -> DesiredRouterLeg:
        addresses = []
        for f in fixed.get(port.id, []):
            subnet = cidrs.get(f.subnet_id)
            prefix = ipaddress.ip_network(subnet.cidr).prefixlen if subnet else 32
            addresses.append(f"{f.ip_address}/{prefix}")
        return DesiredRouterLeg(port_id=port.id, mac=port.mac_address, network_id=port.network_id, addresses=addresses)

    gateway = next((p for p in legs if p.device_owner == ROUTER_GATEWAY), None)
    nexthop = None
    if gateway is not None:
        for f in fixed.get(gateway.id, []):
            subnet = cidrs.get(f.subnet_id)
            if subnet is not None and subnet.gateway_ip and subnet.ip_version == 4:
                nexthop = subnet.gateway_ip
                break
    floating = session.scalars(select(FloatingIP).where(
        FloatingIP.router_id == router.id, FloatingIP.port_id.is_not(None), FloatingIP.fixed_ip_address.is_not(None)))
    return DesiredRouter(
        id=router.id,
        admin_state_up=router.admin_state_up,
        gateway=leg(gateway) if gateway is not None else None,
        gateway_nexthop=nexthop,
        enable_snat=router.enable_snat,
        interfaces=[leg(p) for p in legs if p.device_owner == ROUTER_INTERFACE],
        routes=[dict(r) for r in router.routes or []],
        floating_ips=[DesiredFloatingIp(id=f.id, floating_ip=f.floating_ip_address, fixed_ip=f.fixed_ip_address or "",
                                        port_id=f.port_id or "") for f in floating],
    )


# -- kept up to date on every agent report (a write) -------------------------------------


def place_routers(session: Session) -> bool:
    """Give every router a live host that can build it, and bind its legs there. True if anything moved.

    A router with a gateway on a flat or VLAN network goes to a live host that maps that
    physical network (the L3 agent's bridge mapping); others, or when no host maps it, to
    any live host; the one with the fewest routers first. A router moves when its host
    goes down or cannot reach its (new) gateway network while another host can.
    """
    hosts = [h for h in session.scalars(select(Host).where(Host.disabled.is_(False))) if is_up(h)]
    if not hosts:
        return False
    load: dict[str, int] = defaultdict(int)
    routers = list(session.scalars(select(Router)))
    for router in routers:
        load[router.host] += 1
    moved = False
    for router in routers:
        candidates = _hosts_for(session, router, hosts)
        if router.host not in {h.hostname for h in candidates}:
            load[router.host] -= 1
            router.host = min(candidates, key=lambda h: (load[h.hostname], h.hostname)).hostname
            load[router.host] += 1
            moved = True
    session.flush()
    # Legs not (yet) bound where their router runs, in one query: this runs on every report.
    for port, host in session.execute(select(Port, Router.host).join(Router, Port.device_id == Router.id).where(
            Port.device_owner.in_(ROUTER_OWNERS), Port.binding_host_id != Router.host)):
        port.binding_host_id = host
        moved = True
    return moved


def _hosts_for(session: Session, router: Router, hosts: list[Host]) -> list[Host]:
    physnet = ""
    if router.gateway_network_id:
        net = session.get(Network, router.gateway_network_id)
        if net is not None and net.network_type in ("flat", "vlan"):
            physnet = net.physical_network
    mapped = [h for h in hosts if physnet and physnet in (h.bridge_mappings or {})]
    return mapped or hosts


def sync_dhcp_ports(session: Session, hostname: str, mac_for: Callable[[Session], str]) -> bool:
    """One DHCP port per network this host runs guests on, with an address on each DHCP subnet.

    Returns True if a port was made, changed or removed.
    """
    wanted = set(session.scalars(select(Port.network_id).where(
        Port.binding_host_id == hostname, Port.device_owner.like(f"{GUEST_OWNER_PREFIX}%")).distinct()))
    dhcp_subnets: dict[str, list[Subnet]] = defaultdict(list)
    if wanted:
        for subnet in session.scalars(select(Subnet).where(
                Subnet.network_id.in_(wanted), Subnet.enable_dhcp.is_(True), Subnet.ip_version == 4)
                .order_by(Subnet.created_at, Subnet.id)):
            dhcp_subnets[subnet.network_id].append(subnet)
    existing = {p.network_id: p for p in session.scalars(select(Port).where(
        Port.binding_host_id == hostname, Port.device_owner == DHCP_OWNER))}
    changed = False
    for network_id, port in existing.items():
        if network_id not in dhcp_subnets:
            _delete_port(session, port)
            changed = True
    for network_id, subnets in dhcp_subnets.items():
        port = existing.get(network_id)
        if port is None:
            net = session.get(Network, network_id)
            if net is None:
                continue
            port = Port(project_id=net.project_id, network_id=network_id, mac_address=mac_for(session),
                        device_id=dhcp_device_id(hostname, network_id), device_owner=DHCP_OWNER,
                        binding_host_id=hostname, port_security_enabled=False, security_groups=[],
                        status="DOWN")
            session.add(port)
            session.flush()
            changed = True
        have = set(session.scalars(select(IPAllocation.subnet_id).where(IPAllocation.port_id == port.id)))
        for subnet in subnets:
            if subnet.id not in have:
                try:
                    ipam.allocate_any(session, port.id, subnet)
                    changed = True
                except Exception:  # noqa: BLE001 - a full subnet leaves DHCP off there, not the report broken
                    continue
    return changed


def _delete_port(session: Session, port: Port) -> None:
    for alloc in session.scalars(select(IPAllocation).where(IPAllocation.port_id == port.id)):
        session.delete(alloc)
    session.flush()
    session.delete(port)


def record_dataplane_status(session: Session, hostname: str, ports_up: Iterable[str],
                            floating_ips_up: Iterable[str]) -> None:
    """Port and floating IP status from what the host's dataplane reports built."""
    up = set(ports_up)
    # An admin-down router is built as "nothing": its host applied that, so its legs count as
    # wired (as OVN reports them; tempest waits for ACTIVE legs on such routers).
    down_routers = set(session.scalars(select(Router.id).where(
        Router.host == hostname, Router.admin_state_up.is_(False))))
    if down_routers:
        up |= set(session.scalars(select(Port.id).where(
            Port.device_id.in_(down_routers), Port.device_owner.in_(ROUTER_OWNERS))))
    for port in session.scalars(select(Port).where(Port.binding_host_id == hostname)):
        status = "ACTIVE" if port.id in up else "DOWN"
        if port.status != status:
            port.status = status
    fips_up = set(floating_ips_up)
    routers = list(session.scalars(select(Router.id).where(Router.host == hostname)))
    if routers:
        for fip in session.scalars(select(FloatingIP).where(FloatingIP.router_id.in_(routers))):
            status = "ACTIVE" if fip.id in fips_up and fip.port_id else "DOWN"
            if fip.status != status:
                fip.status = status

