"""Subnets: addresses, pools, gateway, DNS, host routes, IPv6 modes: no HTTP here."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest, Conflict, NotFound
from gureum.network import ipam, views
from gureum.network.attributes import (
    BOOLEAN, INTEGER, LIST, NULLABLE_STRING, STANDARD, STRING, Attr, Resource, boolean, string,
)
from gureum.network.common import as_dict, as_int, as_ip, as_list, as_str, check_keys, invalid, invalid_operation
from gureum.network.listing import ListQuery, Page, page, where
from gureum.network.models import IPAllocation, Network, Port, Subnet
from gureum.network.networks import AUTO_DELETE_OWNERS, get_network_row, visible_ids
from gureum.network.routers import ROUTER_GATEWAY, ROUTER_INTERFACE
from gureum.network.floating_ips import FLOATING_IP_OWNER

if TYPE_CHECKING:
    from gureum.network.service import NetworkService

AUTO_ADDRESS_MODES = ("slaac", "dhcpv6-stateless")
IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")
# Ports whose addresses on a SLAAC subnet are the router's own, not auto-addresses.
ROUTER_OWNED = (ROUTER_INTERFACE, ROUTER_GATEWAY, FLOATING_IP_OWNER)
UNSUPPORTED = ("subnetpool_id", "prefixlen", "use_default_subnetpool", "segment_id")


def _on_external(wanted: list[str]) -> Any:
    from gureum.network.listing import column_filter  # noqa: PLC0415

    return Subnet.network_id.in_(select(Network.id).where(column_filter(Network.external, wanted)))


SUBNET = Resource("subnet", Subnet, (
    *STANDARD,
    Attr("project_id", "project_id", put=False, schema=STRING),
    Attr("tenant_id", "project_id", put=False, schema=STRING),
    Attr("name", "name", convert=string, default="", schema=STRING),
    Attr("description", "description", convert=string, default="", schema=STRING),
    Attr("network_id", "network_id", put=False, schema={"type": "string"}),
    Attr("ip_version", "ip_version", put=False, schema=INTEGER),
    Attr("cidr", "cidr", put=False, schema=NULLABLE_STRING),
    Attr("gateway_ip", "gateway_ip", schema=NULLABLE_STRING),
    Attr("enable_dhcp", "enable_dhcp", convert=boolean, default=True, schema=BOOLEAN),
    Attr("allocation_pools", None, schema=LIST),
    Attr("dns_nameservers", None, schema=LIST),
    Attr("host_routes", None, schema=LIST),
    Attr("ipv6_ra_mode", "ipv6_ra_mode", put=False, schema=NULLABLE_STRING),
    Attr("ipv6_address_mode", "ipv6_address_mode", put=False, schema=NULLABLE_STRING),
    Attr("service_types", None, const=[], schema=LIST),
    Attr("subnetpool_id", None, put=None, const=None, schema=NULLABLE_STRING),
    Attr("prefixlen", None, put=None, schema=INTEGER),
    Attr("use_default_subnetpool", None, put=None, schema=BOOLEAN),
    Attr("segment_id", None, put=None, schema=NULLABLE_STRING),
    Attr("router:external", None, post=None, put=None, sql=_on_external),
    Attr("tags", None, post=None, put=None, const=[]),
))


def is_auto_address(subnet: Subnet) -> bool:
    """An IPv6 subnet whose hosts make their own addresses (neutron's is_auto_address_subnet)."""
    return subnet.ipv6_address_mode in AUTO_ADDRESS_MODES or subnet.ipv6_ra_mode in AUTO_ADDRESS_MODES


# ---- rows and reads --------------------------------------------------------------------


def get_subnet_row(session: Session, ctx: RequestContext, subnet_id: str) -> Subnet:
    subnet = session.get(Subnet, subnet_id) if isinstance(subnet_id, str) and subnet_id else None
    if subnet is None:
        raise NotFound(f"Subnet {subnet_id} could not be found.", kind="SubnetNotFound")
    if subnet.project_id != ctx.project_id and not ctx.is_admin:
        net = session.get(Network, subnet.network_id)
        if not (net and (net.project_id == ctx.project_id or net.shared or net.external)):
            raise NotFound(f"Subnet {subnet_id} could not be found.", kind="SubnetNotFound")
    return subnet


def list_subnets(svc: "NetworkService", session: Session, ctx: RequestContext,
                 wanted: ListQuery) -> tuple[list[dict[str, Any]], Page]:
    query = select(Subnet)
    if not ctx.is_admin:
        query = query.where((Subnet.project_id == ctx.project_id) | Subnet.network_id.in_(visible_ids(ctx)))
    query = query.where(*where(SUBNET, wanted.filters, lambda _: True))
    result = page(session, SUBNET, query, wanted)
    return views.subnets(session, result.rows), result


def show_subnet(svc: "NetworkService", session: Session, ctx: RequestContext, subnet_id: str) -> dict[str, Any]:
    return views.subnets(session, [get_subnet_row(session, ctx, subnet_id)])[0]


# ---- checks ----------------------------------------------------------------------------


def _dns(value: Any) -> list[str]:
    servers = [as_ip(v, "dns_nameservers") for v in as_list(value, "dns_nameservers")]
    if len(servers) > 5:
        raise BadRequest("Number of DNS nameservers exceeds the limit 5.", kind="DNSNameServersExhausted")
    seen: set[str] = set()
    for server in servers:
        if server in seen:
            raise invalid("dns_nameservers", f"Duplicate nameserver '{server}'")
        seen.add(server)
    return servers


def _routes(value: Any, version: int) -> list[dict[str, str]]:
    routes: list[dict[str, str]] = []
    for item in as_list(value, "host_routes"):
        item = as_dict(item, "host_routes")
        check_keys(item, {"destination", "nexthop"}, "host_routes")
        if "destination" not in item or "nexthop" not in item:
            raise invalid("host_routes", f"'{item}' needs both 'destination' and 'nexthop'")
        dest = ipam.check_cidr(item["destination"], "host_routes")
        nexthop = as_ip(item["nexthop"], "host_routes", dest.version)
        if dest.version != version:
            raise invalid("host_routes", f"destination {dest} is not IPv{version}")
        route = {"destination": str(dest), "nexthop": nexthop}
        if route in routes:
            raise invalid("host_routes", f"Duplicate hostroute '{route}'")
        routes.append(route)
    if len(routes) > 20:
        raise BadRequest("Number of host routes exceeds the limit 20.", kind="HostRoutesExhausted")
    return routes


def _gateway(net: ipaddress.IPv4Network | ipaddress.IPv6Network, value: Any) -> str | None:
    if value is None:
        return None
    gateway = as_ip(value, "gateway_ip", net.version)
    ip = ipaddress.ip_address(gateway)
    if ip in net and net.version == 4 and net.prefixlen < 31 and ip in (net.network_address, net.broadcast_address):
        raise BadRequest(f"Invalid input for operation: Gateway is not valid on subnet: {gateway} is the "
                         f"{'network' if ip == net.network_address else 'broadcast'} address of {net}.",
                         kind="InvalidInput")
    return gateway


def _pools(cidr: Any, value: Any, gateway: str | None) -> list[dict[str, str]]:
    return ipam.validate_pools(cidr, [as_dict(p, "allocation_pools") for p in as_list(value, "allocation_pools")],
                               gateway)


# ---- create, update, delete ------------------------------------------------------------


def create_subnet(svc: "NetworkService", session: Session, ctx: RequestContext,
                  attrs: dict[str, Any]) -> dict[str, Any]:
    SUBNET.check_body(attrs, "POST")
    for name in UNSUPPORTED:
        if attrs.get(name) not in (None, False):
            raise invalid_operation(f"'{name}' needs subnet pools or segments, which gureum does not have yet")
    if attrs.get("service_types"):
        raise invalid_operation("'service_types' is not supported")
    if "network_id" not in attrs:
        raise BadRequest("Failed to parse request. Required attribute 'network_id' not specified",
                         kind="HTTPBadRequest")
    if "cidr" not in attrs or attrs["cidr"] is None:
        raise BadRequest("Bad subnets request: a cidr must be specified in the absence of a subnet pool.",
                         kind="BadRequest")
    net_row = get_network_row(session, ctx, as_str(attrs["network_id"], "network_id") or "")
    project = svc.owner_of(ctx, attrs)
    svc.enforce(ctx, "create_subnet", {"project_id": net_row.project_id})
    cidr = ipam.check_cidr(attrs["cidr"])
    version = as_int(attrs.get("ip_version", cidr.version), "ip_version")
    if version not in (4, 6):
        raise invalid("ip_version", f"{version} is not in [4, 6]")
    if version != cidr.version:
        raise invalid_operation(f"Cidr {cidr} does not match the IP version {version}")
    if version == 4 and cidr.prefixlen > 30:
        raise invalid_operation(f"Cidr {cidr} is too small: IPv4 subnets need a prefix of /30 or shorter")
    ra_mode = attrs.get("ipv6_ra_mode")
    addr_mode = attrs.get("ipv6_address_mode")
    for name, mode in (("ipv6_ra_mode", ra_mode), ("ipv6_address_mode", addr_mode)):
        if mode is not None and (version != 6 or mode not in IPV6_MODES):
            raise invalid(name, f"'{mode}' is not in ['dhcpv6-stateful', 'dhcpv6-stateless', 'slaac'] "
                                "or the subnet is not IPv6")
    for other in session.scalars(select(Subnet).where(Subnet.network_id == net_row.id)):
        if ipaddress.ip_network(other.cidr).overlaps(cidr):
            raise invalid_operation(f"Requested subnet with cidr: {cidr} for network: {net_row.id} overlaps "
                                    "with another subnet")
    if "gateway_ip" in attrs:
        gateway = _gateway(cidr, attrs["gateway_ip"])
    else:
        gateway = str(next(cidr.hosts())) if cidr.num_addresses > 2 else None
    if attrs.get("allocation_pools") is not None:
        pools = _pools(cidr, attrs["allocation_pools"], gateway)
    else:
        pools = ipam.default_pools(cidr, gateway)
    dns = _dns(attrs.get("dns_nameservers") or [])
    routes = _routes(attrs.get("host_routes") or [], version)
    svc.check_quota(session, project, "subnet")
    subnet = Subnet(
        name=SUBNET.value(attrs, "name"), description=SUBNET.value(attrs, "description"),
        project_id=project, network_id=net_row.id, ip_version=version, cidr=str(cidr), gateway_ip=gateway,
        enable_dhcp=SUBNET.value(attrs, "enable_dhcp"), allocation_pools=pools,
        dns_nameservers=dns, host_routes=routes, ipv6_ra_mode=ra_mode, ipv6_address_mode=addr_mode,
    )
    session.add(subnet)
    net_row.revision_number += 1
    session.flush()
    return views.subnet(subnet, net_row.external)


def update_subnet(svc: "NetworkService", session: Session, ctx: RequestContext, subnet_id: str,
                  attrs: dict[str, Any]) -> dict[str, Any]:
    subnet = get_subnet_row(session, ctx, subnet_id)
    SUBNET.check_body(attrs, "PUT")
    svc.enforce(ctx, "update_subnet", {"project_id": subnet.project_id})
    cidr = ipaddress.ip_network(subnet.cidr)
    gateway = _gateway(cidr, attrs["gateway_ip"]) if "gateway_ip" in attrs else subnet.gateway_ip
    if gateway != subnet.gateway_ip and gateway is not None:
        holder = session.scalar(select(IPAllocation).where(IPAllocation.subnet_id == subnet.id,
                                                           IPAllocation.ip_address == gateway))
        if holder is not None:
            raise Conflict(f"Gateway ip {gateway} conflicts with allocation of port {holder.port_id}.",
                           kind="GatewayIpInUse")
    if "allocation_pools" in attrs:
        pools = _pools(cidr, attrs["allocation_pools"], gateway)
    else:
        pools = ipam.validate_pools(cidr, subnet.allocation_pools, gateway)
    subnet.gateway_ip = gateway
    subnet.allocation_pools = pools
    SUBNET.apply(subnet, attrs)
    if "dns_nameservers" in attrs:
        subnet.dns_nameservers = _dns(attrs["dns_nameservers"] or [])
    if "host_routes" in attrs:
        subnet.host_routes = _routes(attrs["host_routes"] or [], subnet.ip_version)
    subnet.revision_number += 1
    session.flush()
    return show_subnet(svc, session, ctx, subnet.id)


def delete_subnet(svc: "NetworkService", session: Session, ctx: RequestContext, subnet_id: str) -> None:
    subnet = get_subnet_row(session, ctx, subnet_id)
    svc.enforce(ctx, "delete_subnet", {"project_id": subnet.project_id})
    release_automatic_addresses(session, subnet)
    if session.scalar(select(IPAllocation.id).where(IPAllocation.subnet_id == subnet.id).limit(1)):
        raise Conflict(f"Unable to complete operation on subnet {subnet.id}: One or more ports have an IP "
                       "allocation from this subnet.", kind="SubnetInUse")
    session.delete(subnet)


def release_automatic_addresses(session: Session, subnet: Subnet) -> None:
    """Before a subnet goes: drop the addresses nobody asked for, as neutron does.

    Those are the ones gureum's own DHCP ports hold and, on a SLAAC or DHCPv6-stateless
    subnet, the auto-addresses of every port but a router's. A DHCP port left with no
    address goes too. The flush bumps the network revision, so the agents rebuild.
    """
    rows = session.execute(select(IPAllocation, Port).join(Port, IPAllocation.port_id == Port.id)
                           .where(IPAllocation.subnet_id == subnet.id)).all()
    auto = is_auto_address(subnet)
    emptied: list[Port] = []
    for alloc, port in rows:
        if port.device_owner in AUTO_DELETE_OWNERS or (auto and port.device_owner not in ROUTER_OWNED):
            session.delete(alloc)
            port.revision_number += 1
            if port.device_owner in AUTO_DELETE_OWNERS:
                emptied.append(port)
    session.flush()
    for port in emptied:
        if not session.scalar(select(IPAllocation.id).where(IPAllocation.port_id == port.id).limit(1)):
            session.delete(port)
    session.flush()
