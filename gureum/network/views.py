"""Neutron's JSON for networks, subnets, ports, security groups and rules.

Every view takes a list of rows and loads their child rows (subnet ids, fixed IPs,
rules, the networks of subnets) in one batched IN query each, so rendering a page of
any size costs the same number of statements; a single view is a list of one.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gureum.http.context import RequestContext
from gureum.network.common import timestamp
from gureum.network.models import IPAllocation, Network, Port, SecurityGroup, SecurityGroupRule, Subnet

if TYPE_CHECKING:
    from gureum.network.service import NetworkService

AVAILABILITY_ZONE = "nova"


def _standard(row: Any) -> dict[str, Any]:
    return {"created_at": timestamp(row.created_at), "updated_at": timestamp(row.updated_at),
            "revision_number": row.revision_number}


# ---- networks --------------------------------------------------------------------------


def networks(svc: "NetworkService", session: Session, ctx: RequestContext, rows: list[Network]) -> list[dict[str, Any]]:
    subnet_ids: dict[str, list[str]] = defaultdict(list)
    if rows:
        for network_id, subnet_id in session.execute(
                select(Subnet.network_id, Subnet.id).where(Subnet.network_id.in_([n.id for n in rows]))
                .order_by(Subnet.created_at, Subnet.id)):
            subnet_ids[network_id].append(subnet_id)
    provider: dict[str, bool] = {}  # who sees the segment, per project (one policy check each)
    for net in rows:
        if net.project_id not in provider:
            provider[net.project_id] = svc.allowed(ctx, "get_network:provider:network_type",
                                                   {"project_id": net.project_id})
    return [network(net, subnet_ids[net.id], provider[net.project_id]) for net in rows]


def network(net: Network, subnets: list[str], show_provider: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": net.id, "name": net.name, "description": net.description,
        "project_id": net.project_id, "tenant_id": net.project_id,
        "admin_state_up": net.admin_state_up, "status": net.status, "shared": net.shared,
        "router:external": net.external, "mtu": net.mtu, "port_security_enabled": net.port_security_enabled,
        "subnets": subnets, "availability_zone_hints": list(net.availability_zone_hints),
        "availability_zones": [AVAILABILITY_ZONE], "ipv4_address_scope": None, "ipv6_address_scope": None,
        "l2_adjacency": True, "tags": [], **_standard(net),
    }
    if show_provider:
        view["provider:network_type"] = net.network_type
        view["provider:physical_network"] = net.physical_network or None
        view["provider:segmentation_id"] = net.segmentation_id
    return view


# ---- subnets ---------------------------------------------------------------------------


def subnets(session: Session, rows: list[Subnet]) -> list[dict[str, Any]]:
    external: dict[str, bool] = {}
    if rows:
        external = dict(session.execute(select(Network.id, Network.external).where(
            Network.id.in_({s.network_id for s in rows}))).all())
    return [subnet(s, bool(external.get(s.network_id))) for s in rows]


def subnet(row: Subnet, on_external: bool) -> dict[str, Any]:
    return {
        # subnet-external-network: whether the subnet is on an external network (everyone sees those).
        "router:external": on_external,
        "id": row.id, "name": row.name, "description": row.description,
        "project_id": row.project_id, "tenant_id": row.project_id, "network_id": row.network_id,
        "ip_version": row.ip_version, "cidr": row.cidr, "gateway_ip": row.gateway_ip,
        "enable_dhcp": row.enable_dhcp, "allocation_pools": list(row.allocation_pools),
        "dns_nameservers": list(row.dns_nameservers), "host_routes": list(row.host_routes),
        "ipv6_ra_mode": row.ipv6_ra_mode, "ipv6_address_mode": row.ipv6_address_mode,
        "subnetpool_id": None, "service_types": [], "tags": [], **_standard(row),
    }


# ---- ports -----------------------------------------------------------------------------


def fixed_ips(session: Session, port_ids: list[str]) -> dict[str, list[dict[str, str]]]:
    by_port: dict[str, list[dict[str, str]]] = defaultdict(list)
    if port_ids:
        for port_id, subnet_id, address in session.execute(
                select(IPAllocation.port_id, IPAllocation.subnet_id, IPAllocation.ip_address)
                .where(IPAllocation.port_id.in_(port_ids)).order_by(IPAllocation.id)):
            by_port[port_id].append({"subnet_id": subnet_id, "ip_address": address})
    return by_port


def ports(svc: "NetworkService", session: Session, ctx: RequestContext | None, rows: list[Port]) -> list[dict[str, Any]]:
    addresses = fixed_ips(session, [p.id for p in rows])
    binding: dict[str, bool] = {}  # who sees the binding, per project (one policy check each)
    for p in rows:
        if p.project_id not in binding:
            binding[p.project_id] = ctx is None or svc.allowed(ctx, "get_port:binding:host_id",
                                                                {"project_id": p.project_id})
    return [port(p, addresses[p.id], binding[p.project_id]) for p in rows]


def port(row: Port, addresses: list[dict[str, str]], show_binding: bool) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": row.id, "name": row.name, "description": row.description, "network_id": row.network_id,
        "project_id": row.project_id, "tenant_id": row.project_id, "mac_address": row.mac_address,
        "admin_state_up": row.admin_state_up, "status": row.status, "device_id": row.device_id,
        "device_owner": row.device_owner, "fixed_ips": addresses,
        "security_groups": list(row.security_groups), "port_security_enabled": row.port_security_enabled,
        "allowed_address_pairs": list(row.allowed_address_pairs), "binding:vnic_type": row.binding_vnic_type,
        "tags": [], **_standard(row),
    }
    if show_binding:
        view["binding:host_id"] = row.binding_host_id
        view["binding:vif_type"] = "tap" if row.binding_host_id else "unbound"
        view["binding:vif_details"] = {"port_filter": True} if row.binding_host_id else {}
        view["binding:profile"] = dict(row.binding_profile)
    return view


# ---- security groups -------------------------------------------------------------------


def rule(row: SecurityGroupRule) -> dict[str, Any]:
    return {
        "id": row.id, "security_group_id": row.security_group_id, "project_id": row.project_id,
        "tenant_id": row.project_id, "direction": row.direction, "ethertype": row.ethertype,
        "protocol": row.protocol, "port_range_min": row.port_range_min, "port_range_max": row.port_range_max,
        "remote_ip_prefix": row.remote_ip_prefix, "remote_group_id": row.remote_group_id,
        "remote_address_group_id": None, "description": row.description, **_standard(row),
    }


def security_groups(session: Session, rows: list[SecurityGroup]) -> list[dict[str, Any]]:
    rules: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if rows:
        for r in session.scalars(select(SecurityGroupRule).where(
                SecurityGroupRule.security_group_id.in_([g.id for g in rows]))
                .order_by(SecurityGroupRule.created_at, SecurityGroupRule.id)):
            rules[r.security_group_id].append(rule(r))
    return [security_group(g, rules[g.id]) for g in rows]


def security_group(row: SecurityGroup, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row.id, "name": row.name, "description": row.description, "project_id": row.project_id,
        "tenant_id": row.project_id, "stateful": row.stateful, "tags": [],
        "security_group_rules": rules, **_standard(row),
    }
