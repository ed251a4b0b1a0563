"""Routers (neutron's router, ext-gw-mode, extraroute, extraroute-atomic): no HTTP here.

A router's legs are ports: the gateway port on an external network (device_owner
network:router_gateway, owned by no project, as in neutron) and one interface port
per attached subnet (network:router_interface, owned by the subnet's project). Their
addresses come from IPAM like any port's, so an address is never handed out twice.
Which host builds the router (Router.host) is decided elsewhere (gureum/network/desired.py).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest, Conflict, NotFound
from gureum.network import ipam
from gureum.network.common import (
    as_bool,
    as_dict,
    as_list,
    as_str,
    check_keys,
    invalid,
    invalid_operation,
    read_only,
    timestamp,
)
from gureum.network.attributes import OWNER, STANDARD, Attr, Resource, boolean, string
from gureum.network.listing import ListQuery, Page, page, where
from gureum.network.models import (
    FloatingIP,
    IPAllocation,
    Network,
    Port,
    Router,
    Subnet,
)

if TYPE_CHECKING:
    from gureum.network.service import NetworkService

ROUTER_INTERFACE = "network:router_interface"
ROUTER_GATEWAY = "network:router_gateway"
MAX_ROUTES = 30
AVAILABILITY_ZONE = "nova"

ROUTER_KEYS = {"name", "description", "admin_state_up", "external_gateway_info", "routes", "project_id",
               "tenant_id", "availability_zone_hints"}
ROUTER_READ_ONLY = {"id", "status", "created_at", "updated_at", "revision_number", "availability_zones"}
GATEWAY_KEYS = {"network_id", "enable_snat", "external_fixed_ips"}


def bad_router(reason: str) -> BadRequest:
    return BadRequest(f"Bad router request: {reason}.", kind="BadRequest")


# ---- rows and views ------------------------------------------------------------------


def get_router_row(session: Session, ctx: RequestContext, router_id: str) -> Router:
    router = session.get(Router, router_id) if isinstance(router_id, str) and router_id else None
    if router is None or not (ctx.is_admin or router.project_id == ctx.project_id):
        raise NotFound(f"Router {router_id} could not be found", kind="RouterNotFound")
    return router


def fixed_ips_of(session: Session, port_id: str) -> list[IPAllocation]:
    return list(session.scalars(select(IPAllocation).where(IPAllocation.port_id == port_id)
                                .order_by(IPAllocation.id)))


def interface_ports(session: Session, router_id: str) -> list[Port]:
    return list(session.scalars(select(Port).where(Port.device_id == router_id,
                                                   Port.device_owner == ROUTER_INTERFACE)
                                .order_by(Port.created_at, Port.id)))


def _gateway_fixed_ips(session: Session, routers: list[Router]) -> dict[str, list[dict[str, str]]]:
    """The gateway addresses of all the routers, in one statement."""
    by_port: dict[str, list[dict[str, str]]] = {}
    port_ids = [r.gateway_port_id for r in routers if r.gateway_network_id and r.gateway_port_id]
    if port_ids:
        for a in session.scalars(select(IPAllocation).where(IPAllocation.port_id.in_(port_ids))
                                 .order_by(IPAllocation.id)):
            by_port.setdefault(a.port_id, []).append({"subnet_id": a.subnet_id, "ip_address": a.ip_address})
    return by_port


def router_views(session: Session, routers: list[Router]) -> list[dict[str, Any]]:
    gateway_ips = _gateway_fixed_ips(session, routers)
    return [_router_view(r, gateway_ips.get(r.gateway_port_id or "", [])) for r in routers]


def router_view(session: Session, router: Router) -> dict[str, Any]:
    return router_views(session, [router])[0]


def _router_view(router: Router, gateway_ips: list[dict[str, str]]) -> dict[str, Any]:
    gateway = None
    if router.gateway_network_id:
        gateway = {"network_id": router.gateway_network_id, "enable_snat": router.enable_snat,
                   "external_fixed_ips": gateway_ips}
    return {
        "id": router.id, "name": router.name, "description": router.description,
        "project_id": router.project_id, "tenant_id": router.project_id,
        "admin_state_up": router.admin_state_up, "status": router.status,
        "external_gateway_info": gateway,
        "routes": [dict(r) for r in router.routes],
        "availability_zone_hints": list(router.availability_zone_hints),
        "availability_zones": [AVAILABILITY_ZONE],
        "tags": [], "created_at": timestamp(router.created_at), "updated_at": timestamp(router.updated_at),
        "revision_number": router.revision_number,
    }


# For list filters and sorting (the bodies are checked with ROUTER_KEYS below).
ROUTER = Resource("router", Router, (
    *STANDARD, *OWNER,
    Attr("name", "name", convert=string), Attr("description", "description", convert=string),
    Attr("admin_state_up", "admin_state_up", convert=boolean),
    Attr("status", "status"), Attr("tags", None, const=[]),
    Attr("availability_zones", None, const=[AVAILABILITY_ZONE]),
))


def list_routers(svc: NetworkService, session: Session, ctx: RequestContext,
                 wanted: ListQuery) -> tuple[list[dict[str, Any]], Page]:
    query = select(Router)
    if not ctx.is_admin:
        query = query.where(Router.project_id == ctx.project_id)
    query = query.where(*where(ROUTER, wanted.filters, lambda _: True))
    result = page(session, ROUTER, query, wanted)
    return router_views(session, result.rows), result


def show_router(svc: NetworkService, session: Session, ctx: RequestContext, router_id: str) -> dict[str, Any]:
    router = get_router_row(session, ctx, router_id)
    svc.enforce(ctx, "get_router", {"project_id": router.project_id})
    return router_view(session, router)


# ---- create, update, delete ------------------------------------------------------------


def _hints(value: Any) -> list[str]:
    hints = [as_str(h, "availability_zone_hints") or "" for h in as_list(value, "availability_zone_hints")]
    for hint in hints:
        if hint != AVAILABILITY_ZONE:
            raise NotFound(f"AvailabilityZone {hint} could not be found.", kind="AvailabilityZoneNotFound")
    return hints


def create_router(svc: NetworkService, session: Session, ctx: RequestContext,
                  attrs: dict[str, Any]) -> dict[str, Any]:
    read_only(attrs, ROUTER_READ_ONLY, "POST")
    check_keys(attrs, ROUTER_KEYS - {"routes"}, "POST")
    project = svc.owner_of(ctx, attrs)
    svc.enforce(ctx, "create_router", {"project_id": project})
    svc.check_quota(session, project, "router")
    router = Router(
        name=as_str(attrs.get("name", ""), "name") or "",
        description=as_str(attrs.get("description", ""), "description") or "",
        project_id=project,
        admin_state_up=as_bool(attrs.get("admin_state_up", True), "admin_state_up"),
        availability_zone_hints=_hints(attrs.get("availability_zone_hints", [])),
        routes=[],
    )
    session.add(router)
    session.flush()
    if attrs.get("external_gateway_info"):
        set_gateway(svc, session, ctx, router, attrs["external_gateway_info"], "create")
    session.flush()
    return router_view(session, router)


def update_router(svc: NetworkService, session: Session, ctx: RequestContext, router_id: str,
                  attrs: dict[str, Any]) -> dict[str, Any]:
    router = get_router_row(session, ctx, router_id)
    read_only(attrs, ROUTER_READ_ONLY | {"project_id", "tenant_id"}, "PUT")
    check_keys(attrs, ROUTER_KEYS - {"project_id", "tenant_id"}, "PUT")
    svc.enforce(ctx, "update_router", {"project_id": router.project_id})
    ROUTER.apply(router, attrs)
    if "availability_zone_hints" in attrs:
        raise BadRequest("Attribute 'availability_zone_hints' not allowed in PUT", kind="HTTPBadRequest")
    if "external_gateway_info" in attrs:
        set_gateway(svc, session, ctx, router, attrs["external_gateway_info"], "update")
    if "routes" in attrs:
        router.routes = checked_routes(session, router, attrs["routes"] or [])
    router.revision_number += 1
    session.flush()
    return router_view(session, router)


def delete_router(svc: NetworkService, session: Session, ctx: RequestContext, router_id: str) -> None:
    router = get_router_row(session, ctx, router_id)
    svc.enforce(ctx, "delete_router", {"project_id": router.project_id})
    if interface_ports(session, router.id):
        raise Conflict(f"Router {router.id} still has ports", kind="RouterInUse")
    _drop_gateway(session, router)
    session.delete(router)
    session.flush()


# ---- the gateway ---------------------------------------------------------------------


def set_gateway(svc: NetworkService, session: Session, ctx: RequestContext, router: Router,
                value: Any, action: str) -> None:
    """external_gateway_info: {} or null removes the gateway; else attach to an external network."""
    if value is None or value == {}:
        if router.gateway_network_id:
            _gateway_not_used_by_floating_ips(session, router, router.gateway_network_id)
        _drop_gateway(session, router)
        return
    info = as_dict(value, "external_gateway_info")
    check_keys(info, GATEWAY_KEYS, "PUT" if action == "update" else "POST")
    target = {"project_id": router.project_id}
    svc.enforce(ctx, f"{action}_router:external_gateway_info", target)
    if "network_id" not in info:
        raise invalid("external_gateway_info", "network_id is required")
    svc.enforce(ctx, f"{action}_router:external_gateway_info:network_id", target)
    for name in ("enable_snat", "external_fixed_ips"):
        if name in info:
            svc.enforce(ctx, f"{action}_router:external_gateway_info:{name}", target)
    net = svc.get_network_row(session, ctx, as_str(info["network_id"], "external_gateway_info") or "")
    if not net.external:
        raise bad_router(f"Network {net.id} is not an external network")
    enable_snat = as_bool(info.get("enable_snat", True), "enable_snat")
    requested = info.get("external_fixed_ips")
    if requested is not None:
        requested = [as_dict(e, "external_fixed_ips") for e in as_list(requested, "external_fixed_ips")]
    same_network = router.gateway_network_id == net.id and router.gateway_port_id
    if same_network and requested is None:
        router.enable_snat = enable_snat
        return
    if router.gateway_network_id and router.gateway_network_id != net.id:
        _gateway_not_used_by_floating_ips(session, router, router.gateway_network_id)
    _drop_gateway(session, router)
    port = new_router_port(svc, session, project_id="", network=net, device_id=router.id,
                           device_owner=ROUTER_GATEWAY)
    svc.allocate_fixed_ips(session, ctx, port, net, requested)
    if requested is None and not fixed_ips_of(session, port.id) and \
            session.scalar(select(Subnet.id).where(Subnet.network_id == net.id).limit(1)):
        raise Conflict(f"No more IP addresses available on network {net.id}.", kind="IpAddressGenerationFailure")
    router.gateway_network_id = net.id
    router.gateway_port_id = port.id
    router.enable_snat = enable_snat


def _gateway_not_used_by_floating_ips(session: Session, router: Router, network_id: str) -> None:
    in_use = session.scalar(select(FloatingIP.id).where(FloatingIP.router_id == router.id,
                                                         FloatingIP.floating_network_id == network_id).limit(1))
    if in_use:
        raise Conflict(f"Gateway cannot be updated for router {router.id}, since a gateway to external network "
                       f"{network_id} is required by one or more floating IPs.",
                       kind="RouterExternalGatewayInUseByFloatingIp")


def _drop_gateway(session: Session, router: Router) -> None:
    if router.gateway_port_id:
        port = session.get(Port, router.gateway_port_id)
        if port is not None:
            delete_port_row(session, port)
    router.gateway_network_id = None
    router.gateway_port_id = None
    router.enable_snat = True


def new_router_port(svc: NetworkService, session: Session, *, project_id: str, network: Network,
                    device_id: str, device_owner: str) -> Port:
    """A port the service makes for itself: no security groups, no quota (as neutron's)."""
    port = Port(name="", description="", project_id=project_id, network_id=network.id,
                mac_address=svc.new_mac(session), admin_state_up=True, device_id=device_id,
                device_owner=device_owner, port_security_enabled=False, security_groups=[],
                allowed_address_pairs=[], binding_host_id="", binding_vnic_type="normal", binding_profile={})
    session.add(port)
    session.flush()
    return port


def delete_port_row(session: Session, port: Port) -> None:
    for alloc in fixed_ips_of(session, port.id):
        session.delete(alloc)
    session.flush()
    session.delete(port)
    session.flush()


# ---- routes (extraroute, extraroute-atomic) ----------------------------------------------


def _connected_networks(session: Session, router: Router) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    port_ids = [p.id for p in interface_ports(session, router.id)]
    if router.gateway_port_id:
        port_ids.append(router.gateway_port_id)
    cidrs = []
    for port_id in port_ids:
        for alloc in fixed_ips_of(session, port_id):
            subnet = session.get(Subnet, alloc.subnet_id)
            if subnet is not None:
                cidrs.append(ipaddress.ip_network(subnet.cidr))
    return cidrs


def _router_addresses(session: Session, router: Router) -> set[str]:
    port_ids = [p.id for p in interface_ports(session, router.id)] + [router.gateway_port_id or ""]
    return {a.ip_address for pid in port_ids if pid for a in fixed_ips_of(session, pid)}


def parse_routes(value: Any) -> list[dict[str, str]]:
    routes: list[dict[str, str]] = []
    for item in as_list(value, "routes"):
        item = as_dict(item, "routes")
        check_keys(item, {"destination", "nexthop"}, "routes")
        if "destination" not in item or "nexthop" not in item:
            raise invalid("routes", f"'{item}' needs both 'destination' and 'nexthop'")
        dest = ipam.check_cidr(item["destination"], "routes")
        try:
            nexthop = str(ipaddress.ip_address(item["nexthop"])) if isinstance(item["nexthop"], str) else None
        except ValueError:
            nexthop = None
        if nexthop is None:
            raise invalid("routes", f"'{item['nexthop']}' is not a valid IP address")
        if ipaddress.ip_address(nexthop).version != dest.version:
            raise invalid_operation(f"Invalid format for routes: {item}, the nexthop and destination are not "
                                    "of the same IP version")
        route = {"destination": str(dest), "nexthop": nexthop}
        if route not in routes:
            routes.append(route)
    return routes


def checked_routes(session: Session, router: Router, value: Any) -> list[dict[str, str]]:
    """The router's whole new route list: each nexthop on a subnet the router is attached to."""
    routes = parse_routes(value)
    if len(routes) > MAX_ROUTES:
        raise BadRequest(f"Unable to complete operation for {router.id}. The number of routes exceeds the "
                         f"maximum {MAX_ROUTES}.", kind="RoutesExhausted")
    connected = _connected_networks(session, router)
    own = _router_addresses(session, router)
    for route in routes:
        nexthop = ipaddress.ip_address(route["nexthop"])
        if not any(nexthop in net for net in connected):
            raise BadRequest(f"Invalid format for routes: {route}, the nexthop is not connected with router.",
                             kind="InvalidRoutes")
        if route["nexthop"] in own:
            raise BadRequest(f"Invalid format for routes: {route}, the nexthop is used by router.",
                             kind="InvalidRoutes")
    return routes


def change_routes(svc: NetworkService, session: Session, ctx: RequestContext, router_id: str, body: Any,
                  adding: bool) -> dict[str, Any]:
    """PUT add_extraroutes / remove_extraroutes: {"router": {"routes": [...]}}, answered with the router."""
    router = get_router_row(session, ctx, router_id)
    svc.enforce(ctx, "add_extraroutes" if adding else "remove_extraroutes", {"project_id": router.project_id})
    wrapper = as_dict(as_dict(body, "body").get("router"), "router")
    check_keys(wrapper, {"routes"}, "PUT")
    given = parse_routes(wrapper.get("routes") or [])
    current = [dict(r) for r in router.routes]
    if adding:
        new = current + [r for r in given if r not in current]
    else:
        new = [r for r in current if r not in given]
    router.routes = checked_routes(session, router, new)
    router.revision_number += 1
    session.flush()
    return router_view(session, router)
