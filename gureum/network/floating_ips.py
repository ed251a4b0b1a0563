"""Floating IPs (neutron's router extension, fip-port-details): no HTTP here.

The address is held by a port on the external network (device_owner network:floatingip,
device_id the floating IP's id, owned by no project as in neutron), so IPAM's unique
(subnet, address) key keeps any address from being given twice, even to concurrent
creates. Associating needs a router with a gateway on the floating IP's network and an
interface on the subnet of the fixed IP: that router does the NAT. Status stays DOWN
until the host that builds the router reports the NAT rules in place
(`set_floating_ip_status`).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest, Conflict, NotFound
from gureum.network import ipam
from gureum.network.attributes import OWNER, STANDARD, Attr, Resource
from gureum.network.common import as_ip, as_str, check_keys, read_only, timestamp
from gureum.network.listing import ListQuery, Page, page, where
from gureum.network.desired import DHCP_OWNER
from gureum.network.models import (
    FloatingIP,
    IPAllocation,
    Network,
    Port,
    Router,
    Subnet,
)
from gureum.network.routers import (
    ROUTER_GATEWAY,
    ROUTER_INTERFACE,
    delete_port_row,
    fixed_ips_of,
    new_router_port,
)

if TYPE_CHECKING:
    from gureum.network.service import NetworkService

FLOATING_IP_OWNER = "network:floatingip"
# Ports that belong to the network service itself: never the inside end of a floating IP.
SERVICE_OWNERS = (ROUTER_INTERFACE, ROUTER_GATEWAY, FLOATING_IP_OWNER, DHCP_OWNER)

FIP_KEYS = {"floating_network_id", "floating_ip_address", "subnet_id", "port_id", "fixed_ip_address",
            "description", "project_id", "tenant_id"}
FIP_READ_ONLY = {"id", "status", "router_id", "created_at", "updated_at", "revision_number", "port_details"}


def bad_floatingip(reason: str) -> BadRequest:
    return BadRequest(f"Bad floatingip request: {reason}.", kind="BadRequest")


def get_fip_row(session: Session, ctx: RequestContext, fip_id: str) -> FloatingIP:
    fip = session.get(FloatingIP, fip_id) if isinstance(fip_id, str) and fip_id else None
    if fip is None or not (ctx.is_admin or fip.project_id == ctx.project_id):
        raise NotFound(f"Floating IP {fip_id} could not be found", kind="FloatingIPNotFound")
    return fip


def _port_details(port: Port | None) -> dict[str, Any] | None:
    if port is None:
        return None
    return {"name": port.name, "network_id": port.network_id, "mac_address": port.mac_address,
            "admin_state_up": port.admin_state_up, "status": port.status, "device_id": port.device_id,
            "device_owner": port.device_owner}


def fip_views(session: Session, fips: list[FloatingIP]) -> list[dict[str, Any]]:
    """The views with their associated ports' details, loaded in one statement."""
    port_ids = {f.port_id for f in fips if f.port_id}
    found = {p.id: p for p in session.scalars(select(Port).where(Port.id.in_(port_ids)))} if port_ids else {}
    return [_fip_view(f, found.get(f.port_id or "")) for f in fips]


def fip_view(session: Session, fip: FloatingIP) -> dict[str, Any]:
    return fip_views(session, [fip])[0]


def _fip_view(fip: FloatingIP, port: Port | None) -> dict[str, Any]:
    return {
        "id": fip.id, "project_id": fip.project_id, "tenant_id": fip.project_id,
        "floating_network_id": fip.floating_network_id, "floating_ip_address": fip.floating_ip_address,
        "fixed_ip_address": fip.fixed_ip_address, "port_id": fip.port_id, "router_id": fip.router_id,
        "status": fip.status, "description": fip.description,
        "port_details": _port_details(port), "tags": [],
        "created_at": timestamp(fip.created_at), "updated_at": timestamp(fip.updated_at),
        "revision_number": fip.revision_number,
    }


# For list filters and sorting (the bodies are checked with FIP_KEYS above).
FLOATINGIP = Resource("floatingip", FloatingIP, (
    *STANDARD, *OWNER,
    *(Attr(name, name) for name in ("floating_network_id", "floating_ip_address", "fixed_ip_address", "port_id",
                                    "router_id", "status", "description")),
    Attr("tags", None, const=[]),
))


def list_floating_ips(svc: NetworkService, session: Session, ctx: RequestContext,
                      wanted: ListQuery) -> tuple[list[dict[str, Any]], Page]:
    query = select(FloatingIP)
    if not ctx.is_admin:
        query = query.where(FloatingIP.project_id == ctx.project_id)
    query = query.where(*where(FLOATINGIP, wanted.filters, lambda _: True))
    result = page(session, FLOATINGIP, query, wanted)
    return fip_views(session, result.rows), result


def show_floating_ip(svc: NetworkService, session: Session, ctx: RequestContext, fip_id: str) -> dict[str, Any]:
    fip = get_fip_row(session, ctx, fip_id)
    svc.enforce(ctx, "get_floatingip", {"project_id": fip.project_id})
    return fip_view(session, fip)


# ---- create, update, delete ------------------------------------------------------------


def _floating_subnet(session: Session, net: Network, subnet_id: Any, address: str | None) -> Subnet:
    """The external subnet the address comes from: the given one, the one holding the address, or the first IPv4."""
    subnets = list(session.scalars(select(Subnet).where(Subnet.network_id == net.id, Subnet.ip_version == 4)
                                   .order_by(Subnet.created_at, Subnet.id)))
    if subnet_id is not None:
        subnet_id = as_str(subnet_id, "subnet_id")
        subnet = next((s for s in subnets if s.id == subnet_id), None)
        if subnet is None:
            raise bad_floatingip(f"Subnet {subnet_id} is not an IPv4 subnet of network {net.id}")
        if address is not None and ipaddress.ip_address(address) not in ipaddress.ip_network(subnet.cidr):
            raise BadRequest(f"IP address {address} is not a valid IP for the specified subnet.",
                             kind="InvalidIpForSubnet")
        return subnet
    if not subnets:
        raise bad_floatingip(f"Network {net.id} does not contain any IPv4 subnet")
    if address is None:
        return subnets[0]
    for subnet in subnets:
        if ipaddress.ip_address(address) in ipaddress.ip_network(subnet.cidr):
            return subnet
    raise BadRequest(f"IP address {address} is not a valid IP for any of the subnets on network {net.id}.",
                     kind="InvalidIpForNetwork")


def create_floating_ip(svc: NetworkService, session: Session, ctx: RequestContext,
                       attrs: dict[str, Any]) -> dict[str, Any]:
    read_only(attrs, FIP_READ_ONLY, "POST")
    check_keys(attrs, FIP_KEYS, "POST")
    if attrs.get("floating_network_id") is None:
        raise BadRequest("Failed to parse request. Required attribute 'floating_network_id' not specified",
                         kind="HTTPBadRequest")
    project = svc.owner_of(ctx, attrs)
    target = {"project_id": project}
    svc.enforce(ctx, "create_floatingip", target)
    net = svc.get_network_row(session, ctx, as_str(attrs["floating_network_id"], "floating_network_id") or "")
    if not net.external:
        raise bad_floatingip(f"Network {net.id} is not a valid external network")
    address = attrs.get("floating_ip_address")
    if address is not None:
        svc.enforce(ctx, "create_floatingip:floating_ip_address", target)
        address = as_ip(address, "floating_ip_address", 4)
    subnet = _floating_subnet(session, net, attrs.get("subnet_id"), address)
    svc.check_quota(session, project, "floatingip")
    fip = FloatingIP(project_id=project, floating_network_id=net.id, floating_ip_address="", floating_port_id="",
                     description=as_str(attrs.get("description", ""), "description") or "")
    session.add(fip)
    session.flush()
    port = new_router_port(svc, session, project_id="", network=net, device_id=fip.id,
                           device_owner=FLOATING_IP_OWNER)
    if address is not None:
        fip.floating_ip_address = ipam.allocate_exact(session, port.id, subnet, address)
    else:
        fip.floating_ip_address = ipam.allocate_any(session, port.id, subnet)
    fip.floating_port_id = port.id
    if attrs.get("port_id") is not None:
        associate(svc, session, ctx, fip, attrs["port_id"], attrs.get("fixed_ip_address"))
    session.flush()
    return fip_view(session, fip)


def update_floating_ip(svc: NetworkService, session: Session, ctx: RequestContext, fip_id: str,
                       attrs: dict[str, Any]) -> dict[str, Any]:
    fip = get_fip_row(session, ctx, fip_id)
    read_only(attrs, FIP_READ_ONLY | {"floating_network_id", "floating_ip_address", "subnet_id", "project_id",
                                      "tenant_id"}, "PUT")
    check_keys(attrs, {"port_id", "fixed_ip_address", "description"}, "PUT")
    svc.enforce(ctx, "update_floatingip", {"project_id": fip.project_id})
    if "description" in attrs:
        fip.description = as_str(attrs["description"], "description") or ""
    if "port_id" in attrs or "fixed_ip_address" in attrs:
        port_id = attrs.get("port_id", fip.port_id)
        if port_id is None:
            if attrs.get("fixed_ip_address") is not None:
                raise bad_floatingip("fixed_ip_address cannot be specified without a port_id")
            disassociate(fip)
        else:
            associate(svc, session, ctx, fip, port_id, attrs.get("fixed_ip_address"))
    fip.revision_number += 1
    session.flush()
    return fip_view(session, fip)


def delete_floating_ip(svc: NetworkService, session: Session, ctx: RequestContext, fip_id: str) -> None:
    fip = get_fip_row(session, ctx, fip_id)
    svc.enforce(ctx, "delete_floatingip", {"project_id": fip.project_id})
    port = session.get(Port, fip.floating_port_id) if fip.floating_port_id else None
    session.delete(fip)
    session.flush()
    if port is not None:
        delete_port_row(session, port)


def delete_floating_ips_on_network(session: Session, network_id: str) -> None:
    """The external network is being deleted: its floating IPs and their ports go first."""
    for fip in session.scalars(select(FloatingIP).where(FloatingIP.floating_network_id == network_id)):
        port = session.get(Port, fip.floating_port_id) if fip.floating_port_id else None
        session.delete(fip)
        session.flush()
        if port is not None:
            delete_port_row(session, port)


# ---- association ----------------------------------------------------------------------


def _inside_address(session: Session, fip: FloatingIP, port: Port, fixed_ip: Any) -> IPAllocation:
    v4 = [a for a in fixed_ips_of(session, port.id) if ipaddress.ip_address(a.ip_address).version == 4]
    if fixed_ip is not None:
        fixed_ip = as_ip(fixed_ip, "fixed_ip_address")
        match = next((a for a in fixed_ips_of(session, port.id) if a.ip_address == fixed_ip), None)
        if match is None:
            raise bad_floatingip(f"Port {port.id} does not have fixed ip {fixed_ip}")
        if ipaddress.ip_address(fixed_ip).version != 4:
            raise bad_floatingip(f"Cannot process floating IP association with {fixed_ip}, since that is not "
                                 "an IPv4 address")
        return match
    if not v4:
        raise bad_floatingip(f"Port {port.id} does not have any IPv4 address")
    if len(v4) > 1:
        raise bad_floatingip(f"Port {port.id} has multiple fixed IPv4 addresses. Must provide a specific IPv4 "
                             "address when assigning a floating IP")
    return v4[0]


def nat_router(session: Session, external_network_id: str, subnet_id: str) -> Router | None:
    """A router with a gateway on the external network and an interface on the subnet."""
    interfaces = select(IPAllocation.port_id).where(IPAllocation.subnet_id == subnet_id)
    router_ids = select(Port.device_id).where(Port.id.in_(interfaces), Port.device_owner == ROUTER_INTERFACE)
    return session.scalar(select(Router).where(Router.id.in_(router_ids),
                                               Router.gateway_network_id == external_network_id)
                          .order_by(Router.created_at, Router.id).limit(1))


def associate(svc: NetworkService, session: Session, ctx: RequestContext, fip: FloatingIP, port_id: Any,
              fixed_ip: Any) -> None:
    port = svc.get_port_row(session, ctx, as_str(port_id, "port_id") or "")
    if port.device_owner in SERVICE_OWNERS:
        raise bad_floatingip(f"Port {port.id} has owner {port.device_owner} and therefore cannot be used with "
                             "floating IP")
    if not ctx.is_admin and port.project_id != fip.project_id:
        raise bad_floatingip(f"Cannot create floating IP and bind it to Port {port.id}, since that port is owned "
                             "by a different project")
    inside = _inside_address(session, fip, port, fixed_ip)
    taken = session.scalar(select(FloatingIP).where(FloatingIP.port_id == port.id,
                                                     FloatingIP.fixed_ip_address == inside.ip_address,
                                                     FloatingIP.floating_network_id == fip.floating_network_id,
                                                     FloatingIP.id != fip.id).limit(1))
    if taken is not None:
        raise Conflict(f"Cannot associate floating IP {fip.floating_ip_address} ({fip.id}) with port {port.id} "
                       f"using fixed IP {inside.ip_address}, as that fixed IP already has a floating IP on "
                       f"external network {fip.floating_network_id}.", kind="FloatingIPPortAlreadyAssociated")
    router = nat_router(session, fip.floating_network_id, inside.subnet_id)
    if router is None:
        raise NotFound(f"External network {fip.floating_network_id} is not reachable from subnet "
                       f"{inside.subnet_id}.  Therefore, cannot associate Port {port.id} with a Floating IP.",
                       kind="ExternalGatewayForFloatingIPNotFound")
    if (fip.port_id, fip.fixed_ip_address, fip.router_id) != (port.id, inside.ip_address, router.id):
        fip.status = "DOWN"
    fip.port_id, fip.fixed_ip_address, fip.router_id = port.id, inside.ip_address, router.id


def disassociate(fip: FloatingIP) -> None:
    if fip.port_id is not None:
        fip.status = "DOWN"
    fip.port_id = fip.fixed_ip_address = fip.router_id = None


def disassociate_port(session: Session, port_id: str, keep_addresses: set[str] | None = None) -> None:
    """The port is going away (or lost addresses): its floating IPs stay, unassociated."""
    for fip in session.scalars(select(FloatingIP).where(FloatingIP.port_id == port_id)):
        if keep_addresses is None or fip.fixed_ip_address not in keep_addresses:
            disassociate(fip)
            fip.revision_number += 1
    session.flush()


def set_floating_ip_status(session: Session, ids_up: set[str], host: str) -> None:
    """From a host's report: its routers' floating IPs in `ids_up` are ACTIVE, the others DOWN.

    Only floating IPs of routers placed on `host` change, so one host's report never
    touches another's; an unassociated floating IP is always DOWN.
    """
    routers = select(Router.id).where(Router.host == host)
    for fip in session.scalars(select(FloatingIP).where(FloatingIP.router_id.in_(routers))):
        status = "ACTIVE" if fip.id in ids_up and fip.port_id else "DOWN"
        if fip.status != status:
            fip.status = status
    session.flush()
