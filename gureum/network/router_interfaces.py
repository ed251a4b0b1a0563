"""Router interfaces: a subnet attached through its gateway address, or a port adopted: no HTTP here."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gureum.http.context import RequestContext
from gureum.http.errors import Conflict, NotFound
from gureum.network import ipam
from gureum.network.common import as_dict, as_str, check_keys
from gureum.network.models import FloatingIP, Network, Port, Router, Subnet
from gureum.network.routers import (
    ROUTER_INTERFACE, bad_router, delete_port_row, fixed_ips_of, get_router_row, interface_ports, new_router_port,
)

if TYPE_CHECKING:
    from gureum.network.service import NetworkService



def _attached_subnets(session: Session, router: Router) -> list[Subnet]:
    ids = [a.subnet_id for p in interface_ports(session, router.id) for a in fixed_ips_of(session, p.id)]
    return [s for s in (session.get(Subnet, i) for i in ids) if s is not None]


def _check_no_overlap(session: Session, router: Router, new_subnets: list[Subnet]) -> None:
    for new in new_subnets:
        for old in _attached_subnets(session, router):
            if old.id == new.id:
                raise bad_router(f"Router already has a port on subnet {new.id}")
            if ipaddress.ip_network(old.cidr).overlaps(ipaddress.ip_network(new.cidr)):
                raise bad_router(f"Cidr {new.cidr} of subnet {new.id} overlaps with cidr {old.cidr} of subnet "
                                 f"{old.id}")


def interface_info(session: Session, router: Router, port: Port) -> dict[str, Any]:
    subnet_ids = [a.subnet_id for a in fixed_ips_of(session, port.id)]
    return {"id": router.id, "tenant_id": router.project_id, "project_id": router.project_id,
            "port_id": port.id, "network_id": port.network_id,
            "subnet_id": subnet_ids[0] if subnet_ids else None, "subnet_ids": subnet_ids}


def _interface_request(body: Any) -> tuple[str | None, str | None]:
    body = as_dict(body, "body")
    check_keys(body, {"subnet_id", "port_id"}, "PUT")
    subnet_id, port_id = body.get("subnet_id"), body.get("port_id")
    if subnet_id is not None:
        subnet_id = as_str(subnet_id, "subnet_id")
    if port_id is not None:
        port_id = as_str(port_id, "port_id")
    if not subnet_id and not port_id:
        raise bad_router("Either subnet_id or port_id must be specified")
    return subnet_id, port_id


def add_interface(svc: NetworkService, session: Session, ctx: RequestContext, router_id: str,
                  body: Any) -> dict[str, Any]:
    router = get_router_row(session, ctx, router_id)
    subnet_id, port_id = _interface_request(body)
    svc.enforce(ctx, "add_router_interface", {"project_id": router.project_id})
    if subnet_id and port_id:
        raise bad_router("Cannot specify both subnet-id and port-id")
    if port_id:
        port = _adopt_port(svc, session, ctx, router, port_id)
    else:
        port = _port_on_subnet_gateway(svc, session, ctx, router, subnet_id or "")
    router.revision_number += 1
    session.flush()
    return interface_info(session, router, port)


def _adopt_port(svc: NetworkService, session: Session, ctx: RequestContext, router: Router,
                port_id: str) -> Port:
    port = svc.get_port_row(session, ctx, port_id)
    if port.device_id or port.device_owner:
        raise Conflict(f"Unable to complete operation on port {port.id} for network {port.network_id}. Port "
                       f"already has an attached device {port.device_id or port.device_owner}.", kind="PortInUse")
    allocations = fixed_ips_of(session, port.id)
    if not allocations:
        raise bad_router("Router port must have at least one fixed IP")
    subnets = [s for s in (session.get(Subnet, a.subnet_id) for a in allocations) if s is not None]
    if sum(1 for s in subnets if s.ip_version == 4) > 1:
        raise bad_router("Cannot have multiple IPv4 subnets on router port")
    _check_no_overlap(session, router, subnets)
    port.device_id = router.id
    port.device_owner = ROUTER_INTERFACE
    port.security_groups = []
    port.allowed_address_pairs = []
    port.port_security_enabled = False
    port.revision_number += 1
    return port


def _port_on_subnet_gateway(svc: NetworkService, session: Session, ctx: RequestContext, router: Router,
                            subnet_id: str) -> Port:
    subnet = svc.get_subnet_row(session, ctx, subnet_id)
    net = session.get(Network, subnet.network_id)
    assert net is not None
    if not ctx.is_admin and subnet.project_id != router.project_id and not net.shared:
        raise NotFound(f"Subnet {subnet_id} could not be found.", kind="SubnetNotFound")
    if not subnet.gateway_ip:
        raise bad_router("Subnet for router interface must have a gateway IP")
    _check_no_overlap(session, router, [subnet])
    port = new_router_port(svc, session, project_id=subnet.project_id, network=net, device_id=router.id,
                           device_owner=ROUTER_INTERFACE)
    ipam.allocate_exact(session, port.id, subnet, subnet.gateway_ip, allow_gateway=True)
    return port


def remove_interface(svc: NetworkService, session: Session, ctx: RequestContext, router_id: str,
                     body: Any) -> dict[str, Any]:
    router = get_router_row(session, ctx, router_id)
    subnet_id, port_id = _interface_request(body)
    svc.enforce(ctx, "remove_router_interface", {"project_id": router.project_id})
    ports = interface_ports(session, router.id)
    if port_id:
        port = next((p for p in ports if p.id == port_id), None)
        if port is None:
            raise NotFound(f"Router {router.id} does not have an interface with id {port_id}",
                           kind="RouterInterfaceNotFound")
        if subnet_id and subnet_id not in [a.subnet_id for a in fixed_ips_of(session, port.id)]:
            raise Conflict(f"Subnet {subnet_id} does not match the port {port_id}.", kind="SubnetMismatchForPort")
    else:
        port = next((p for p in ports if subnet_id in [a.subnet_id for a in fixed_ips_of(session, p.id)]), None)
        if port is None:
            raise NotFound(f"Router {router.id} has no interface on subnet {subnet_id}",
                           kind="RouterInterfaceNotFoundForSubnet")
    info = interface_info(session, router, port)
    for sid in info["subnet_ids"]:
        _interface_not_needed(session, router, sid)
    delete_port_row(session, port)
    router.revision_number += 1
    session.flush()
    return info


def _interface_not_needed(session: Session, router: Router, subnet_id: str) -> None:
    subnet = session.get(Subnet, subnet_id)
    if subnet is None:
        return
    cidr = ipaddress.ip_network(subnet.cidr)
    for route in router.routes:
        if ipaddress.ip_address(route["nexthop"]) in cidr:
            raise Conflict(f"Router interface for subnet {subnet_id} on router {router.id} cannot be deleted, "
                           "as it is required by one or more routes.", kind="RouterInterfaceInUse")
    fixed = session.scalars(select(FloatingIP).where(FloatingIP.router_id == router.id,
                                                     FloatingIP.fixed_ip_address.is_not(None)))
    for fip in fixed:
        if fip.fixed_ip_address and ipaddress.ip_address(fip.fixed_ip_address) in cidr:
            raise Conflict(f"Cannot delete router interface on subnet {subnet_id} for router {router.id}, as it "
                           f"is required by one or more floating IPs ({fip.id}).",
                           kind="RouterInterfaceInUseByFloatingIP")


