"""Ports: addresses, MACs, security groups, address pairs, bindings: no HTTP here.

`create_port_row`/`update_port_row` answer the row (compute binds ports in its own
transaction); `create_port`/`update_port` the view.
"""

from __future__ import annotations

import ipaddress
import secrets
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, cast, exists, false, or_, select
from sqlalchemy.orm import Session

from gureum.http.context import RequestContext
from gureum.http.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound
from gureum.network import ipam, views
from gureum.network.attributes import (
    BOOLEAN, LIST, NULLABLE_STRING, OBJECT, OWNER, STANDARD, STRING, Attr, Resource, boolean, dictionary,
    string_or_empty,
)
from gureum.network.common import as_dict, as_ip, as_list, as_mac, as_str, check_keys, invalid, invalid_operation
from gureum.network.floating_ips import FLOATING_IP_OWNER, disassociate_port
from gureum.network.listing import ListQuery, Page, page, where
from gureum.network.models import IPAllocation, Network, Port, SecurityGroup, Subnet
from gureum.network.networks import get_network_row
from gureum.network.routers import ROUTER_GATEWAY, ROUTER_INTERFACE, delete_port_row

if TYPE_CHECKING:
    from gureum.network.service import NetworkService

# Ports the routers and floating IPs own: they go away with their router leg or floating IP.
SERVICE_PORT_OWNERS = (ROUTER_INTERFACE, ROUTER_GATEWAY, FLOATING_IP_OWNER)
BINDING = "get_port:binding:host_id"


def _fixed_ips_filter(wanted: list[str]) -> Any:
    """`fixed_ips=ip_address=10.0.0.5`, `subnet_id=...` or `ip_address_substr=...`: any of them."""
    options = []
    for item in wanted:
        key, _, value = item.partition("=")
        column = {"ip_address": IPAllocation.ip_address, "subnet_id": IPAllocation.subnet_id,
                  "ip_address_substr": IPAllocation.ip_address}.get(key)
        if column is None:
            continue
        test = column.contains(value, autoescape=True) if key.endswith("_substr") else column == value
        options.append(exists().where(IPAllocation.port_id == Port.id, test))
    return or_(*options) if options else false()


def _json_list_filter(column: Any) -> Any:
    """A JSON list of ids holds any wanted id (the stored text holds it quoted)."""
    def condition(wanted: list[str]) -> Any:
        return or_(*[cast(column, String).contains(f'"{w}"', autoescape=True) for w in wanted])
    return condition


def _vif_type_filter(wanted: list[str]) -> Any:
    options = []
    if "tap" in wanted:
        options.append(Port.binding_host_id != "")
    if "unbound" in wanted:
        options.append(Port.binding_host_id == "")
    return or_(*options) if options else false()


PORT = Resource("port", Port, (
    *STANDARD, *OWNER,
    Attr("name", "name", convert=string_or_empty, default="", schema=STRING),
    Attr("description", "description", convert=string_or_empty, default="", schema=STRING),
    Attr("network_id", "network_id", put=False, schema={"type": "string"}),
    Attr("mac_address", "mac_address", policy=True, default=None, schema=STRING),
    Attr("admin_state_up", "admin_state_up", convert=boolean, default=True, schema=BOOLEAN),
    Attr("device_id", "device_id", convert=string_or_empty, default="", schema=STRING),
    Attr("device_owner", "device_owner", convert=string_or_empty, default="", schema=STRING),
    Attr("fixed_ips", None, schema=LIST, sql=_fixed_ips_filter),
    Attr("security_groups", None, schema=LIST, sql=_json_list_filter(Port.security_groups)),
    Attr("port_security_enabled", "port_security_enabled", convert=boolean, policy=True, schema=BOOLEAN),
    Attr("allowed_address_pairs", None, schema=LIST),
    Attr("binding:host_id", "binding_host_id", policy=True, default="", read_policy=BINDING, schema=STRING),
    Attr("binding:vnic_type", "binding_vnic_type", schema=STRING),
    Attr("binding:profile", "binding_profile", convert=dictionary, policy=True, default={},
         read_policy=BINDING, schema=OBJECT),
    Attr("binding:vif_type", None, post=False, put=False, read_policy=BINDING, sql=_vif_type_filter),
    Attr("binding:vif_details", None, post=False, put=False, read_policy=BINDING),
    Attr("status", "status", post=False, put=False, schema=NULLABLE_STRING),
    Attr("tags", None, post=None, put=None, const=[]),
))


# ---- rows and reads --------------------------------------------------------------------


def get_port_row(session: Session, ctx: RequestContext, port_id: str) -> Port:
    port = session.get(Port, port_id) if isinstance(port_id, str) and port_id else None
    if port is not None and not (ctx.is_admin or port.project_id == ctx.project_id):
        net = session.get(Network, port.network_id)
        if net is None or net.project_id != ctx.project_id:
            port = None
    if port is None:
        raise NotFound(f"Port {port_id} could not be found.", kind="PortNotFound")
    return port


def list_ports(svc: "NetworkService", session: Session, ctx: RequestContext,
               wanted: ListQuery) -> tuple[list[dict[str, Any]], Page]:
    query = select(Port)
    if not ctx.is_admin:
        owned = select(Network.id).where(Network.project_id == ctx.project_id)
        query = query.where((Port.project_id == ctx.project_id) | Port.network_id.in_(owned))
    # Who may see (and so filter on) the binding does not depend on the row for gureum's rules.
    target = {"project_id": ctx.project_id}
    query = query.where(*where(PORT, wanted.filters, lambda n: PORT.visible(svc, ctx, n, target)))
    result = page(session, PORT, query, wanted)
    return views.ports(svc, session, ctx, result.rows), result


def show_port(svc: "NetworkService", session: Session, ctx: RequestContext, port_id: str) -> dict[str, Any]:
    return views.ports(svc, session, ctx, [get_port_row(session, ctx, port_id)])[0]


def new_mac(session: Session) -> str:
    for _ in range(16):
        mac = "fa:16:3e:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))
        if not session.scalar(select(Port.id).where(Port.mac_address == mac)):
            return mac
    raise Conflict("Unable to generate a unique mac address.", kind="MacAddressGenerationFailure")


# ---- checks ----------------------------------------------------------------------------


def security_group_ids(session: Session, ctx: RequestContext, value: Any) -> list[str]:
    ids: list[str] = []
    for sg_id in as_list(value, "security_groups"):
        sg = session.get(SecurityGroup, sg_id) if isinstance(sg_id, str) else None
        if sg is None or not (ctx.is_admin or sg.project_id == ctx.project_id):
            raise NotFound(f"Security group {sg_id} does not exist", kind="SecurityGroupNotFound")
        if sg_id not in ids:
            ids.append(sg_id)
    return ids


def address_pairs(value: Any, mac: str) -> list[dict[str, str]]:
    pairs: list[dict[str, str]] = []
    for item in as_list(value, "allowed_address_pairs"):
        item = as_dict(item, "allowed_address_pairs")
        check_keys(item, {"ip_address", "mac_address"}, "allowed_address_pairs")
        if "ip_address" not in item:
            raise BadRequest("AllowedAddressPair must contain ip_address", kind="AllowedAddressPairsMissingIP")
        try:
            ip = str(ipaddress.ip_network(str(item["ip_address"]), strict=False))
            if "/" not in str(item["ip_address"]):
                ip = str(ipaddress.ip_address(str(item["ip_address"])))
        except ValueError as exc:
            raise invalid("allowed_address_pairs", f"'{item['ip_address']}' is not a valid IP address") from exc
        pair = {"ip_address": ip, "mac_address": as_mac(item["mac_address"]) if item.get("mac_address") else mac}
        if pair in pairs:
            raise BadRequest("Request contains duplicate address pair: mac_address "
                             f"{pair['mac_address']} ip_address {ip}.", kind="DuplicateAddressPairInRequest")
        pairs.append(pair)
    if len(pairs) > 10:
        raise Conflict("Exceeded maximum amount of allowed address pairs (10).",
                       kind="AllowedAddressPairExhausted")
    return pairs


def _no_security_without_port_security(port: Port) -> None:
    if port.port_security_enabled:
        return
    if port.security_groups:
        raise Conflict("Port has security group associated. Cannot disable port security or ip address until "
                       "security group is removed", kind="PortSecurityPortHasSecurityGroup")
    if port.allowed_address_pairs:
        raise Conflict("Port Security must be enabled in order to have allowed address pairs on a port.",
                       kind="AddressPairAndPortSecurityRequired")


def _vnic(value: Any) -> str:
    if value != "normal":
        raise invalid("binding:vnic_type", f"'{value}' is not supported: gureum ports are 'normal' (a tap device)")
    return "normal"


def allocate_fixed_ips(svc: "NetworkService", session: Session, ctx: RequestContext, port: Port, net: Network,
                       requested: list[Any] | None, keep: dict[str, str] | None = None) -> None:
    """Allocate the port's addresses: as requested, or one from the network's subnets."""
    subnets = list(session.scalars(select(Subnet).where(Subnet.network_id == net.id)
                                   .order_by(Subnet.created_at, Subnet.id)))
    if requested is None:
        for subnet in sorted(subnets, key=lambda s: s.ip_version):
            try:
                ipam.allocate_any(session, port.id, subnet)
                return
            except ApiError:
                continue
        if subnets:
            raise Conflict(f"No more IP addresses available on network {net.id}.", kind="IpAddressGenerationFailure")
        return
    by_id = {s.id: s for s in subnets}
    target = {"project_id": port.project_id, "network_project_id": net.project_id}
    for entry in requested:
        entry = as_dict(entry, "fixed_ips")
        check_keys(entry, {"subnet_id", "ip_address"}, "fixed_ips")
        subnet_id, address = entry.get("subnet_id"), entry.get("ip_address")
        if subnet_id is None and address is None:
            raise invalid("fixed_ips", f"'{entry}' needs a subnet_id or an ip_address")
        if address is not None:
            address = as_ip(address, "fixed_ips")
        if subnet_id is not None:
            subnet = by_id.get(subnet_id)
            if subnet is None:
                raise invalid_operation(f"Failed to create port on network {net.id}, because fixed_ips "
                                        f"included invalid subnet {subnet_id}")
        else:
            matches = [s for s in subnets if ipaddress.ip_address(address) in ipaddress.ip_network(s.cidr)]
            if not matches:
                raise invalid_operation(f"IP address {address} is not a valid IP for any of the subnets on "
                                        f"network {net.id}")
            subnet = matches[0]
        if address is not None:
            if keep is not None and keep.get(address) == subnet.id:
                continue
            if not svc.allowed(ctx, "create_port:fixed_ips:ip_address", target):
                raise svc.policy_error("rule:create_port:fixed_ips:ip_address")
            ipam.allocate_exact(session, port.id, subnet, address,
                                allow_gateway=port.device_owner.startswith("network:router"))
        else:
            if keep is not None and subnet.id in keep.values():
                continue
            ipam.allocate_any(session, port.id, subnet)


# ---- create, update, delete ------------------------------------------------------------


def create_port_row(svc: "NetworkService", session: Session, ctx: RequestContext, attrs: dict[str, Any]) -> Port:
    PORT.check_body(attrs, "POST")
    if "network_id" not in attrs:
        raise BadRequest("Failed to parse request. Required attribute 'network_id' not specified",
                         kind="HTTPBadRequest")
    net = get_network_row(session, ctx, as_str(attrs["network_id"], "network_id") or "")
    project = svc.owner_of(ctx, attrs)
    target = {"project_id": project, "network_project_id": net.project_id}
    svc.enforce(ctx, "create_port", target)
    if not (ctx.is_admin or net.shared or net.project_id == project):
        raise Forbidden(f"Tenant {project} not allowed to create port on this network", kind="HTTPForbidden")
    device_owner = PORT.value(attrs, "device_owner")
    if device_owner.startswith("network:"):
        svc.enforce(ctx, "create_port:device_owner", target)
    PORT.enforce_given(svc, ctx, "create", attrs, target)
    _vnic(attrs.get("binding:vnic_type", "normal"))
    psec = PORT.value(attrs, "port_security_enabled", default=net.port_security_enabled)
    svc.check_quota(session, project, "port")
    mac = as_mac(attrs["mac_address"]) if attrs.get("mac_address") else new_mac(session)
    if session.scalar(select(Port.id).where(Port.network_id == net.id, Port.mac_address == mac)):
        raise Conflict(f"Unable to complete operation for network {net.id}. The mac address {mac} is in use.",
                       kind="MacAddressInUse")
    if attrs.get("security_groups") is not None:
        groups = security_group_ids(session, ctx, attrs["security_groups"])
    elif psec and not device_owner.startswith("network:"):
        default = svc.ensure_default_sg(session, project)
        groups = [default] if default else []
    else:
        groups = []
    port = Port(
        name=PORT.value(attrs, "name"), description=PORT.value(attrs, "description"),
        project_id=project, network_id=net.id, mac_address=mac,
        admin_state_up=PORT.value(attrs, "admin_state_up"), device_id=PORT.value(attrs, "device_id"),
        device_owner=device_owner, port_security_enabled=psec, security_groups=groups,
        allowed_address_pairs=address_pairs(attrs.get("allowed_address_pairs") or [], mac),
        binding_host_id=as_str(attrs.get("binding:host_id") or "", "binding:host_id") or "",
        binding_vnic_type="normal", binding_profile=dictionary(attrs.get("binding:profile") or {}, "binding:profile"),
    )
    _no_security_without_port_security(port)
    session.add(port)
    session.flush()
    fixed = attrs.get("fixed_ips")
    allocate_fixed_ips(svc, session, ctx, port, net, None if fixed is None else as_list(fixed, "fixed_ips"))
    session.flush()
    return port


def create_port(svc: "NetworkService", session: Session, ctx: RequestContext, attrs: dict[str, Any]) -> dict[str, Any]:
    return views.ports(svc, session, ctx, [create_port_row(svc, session, ctx, attrs)])[0]


def update_port_row(svc: "NetworkService", session: Session, ctx: RequestContext, port_id: str,
                    attrs: dict[str, Any]) -> Port:
    port = get_port_row(session, ctx, port_id)
    PORT.check_body(attrs, "PUT")
    net = session.get(Network, port.network_id)
    assert net is not None
    target = {"project_id": port.project_id, "network_project_id": net.project_id}
    svc.enforce(ctx, "update_port", target)
    PORT.enforce_given(svc, ctx, "update", attrs, target)
    if "mac_address" in attrs:
        _change_mac(session, port, net, as_mac(attrs["mac_address"]))
    PORT.apply(port, attrs)
    if "binding:host_id" in attrs:
        port.binding_host_id = as_str(attrs["binding:host_id"] or "", "binding:host_id") or ""
        if not port.binding_host_id:
            port.status = "DOWN"
    if "binding:vnic_type" in attrs:
        _vnic(attrs["binding:vnic_type"])
    if "security_groups" in attrs:
        port.security_groups = security_group_ids(session, ctx, attrs["security_groups"] or [])
    if "allowed_address_pairs" in attrs:
        port.allowed_address_pairs = address_pairs(attrs["allowed_address_pairs"] or [], port.mac_address)
    _no_security_without_port_security(port)
    if "fixed_ips" in attrs:
        _change_fixed_ips(svc, session, ctx, port, net, as_list(attrs["fixed_ips"] or [], "fixed_ips"))
    port.revision_number += 1
    session.flush()
    return port


def update_port(svc: "NetworkService", session: Session, ctx: RequestContext, port_id: str,
                attrs: dict[str, Any]) -> dict[str, Any]:
    return views.ports(svc, session, ctx, [update_port_row(svc, session, ctx, port_id, attrs)])[0]


def _change_mac(session: Session, port: Port, net: Network, mac: str) -> None:
    if mac == port.mac_address:
        return
    if port.binding_host_id:
        raise Conflict(f"Unable to complete operation on port {port.id} for network {net.id}. "
                       "Port already has an attached device.", kind="PortBound")
    if session.scalar(select(Port.id).where(Port.network_id == net.id, Port.mac_address == mac)):
        raise Conflict(f"Unable to complete operation for network {net.id}. The mac address {mac} is "
                       "in use.", kind="MacAddressInUse")
    port.mac_address = mac


def _change_fixed_ips(svc: "NetworkService", session: Session, ctx: RequestContext, port: Port, net: Network,
                      requested: list[Any]) -> None:
    current = {a.ip_address: a.subnet_id for a in
               session.scalars(select(IPAllocation).where(IPAllocation.port_id == port.id))}
    wanted_ips = {e.get("ip_address") for e in requested if isinstance(e, dict)}
    wanted_subnets_any = {e.get("subnet_id") for e in requested if isinstance(e, dict) and e.get("ip_address") is None}
    keep = {ip: sid for ip, sid in current.items() if ip in wanted_ips or sid in wanted_subnets_any}
    for alloc in session.scalars(select(IPAllocation).where(IPAllocation.port_id == port.id)):
        if alloc.ip_address not in keep:
            session.delete(alloc)
    session.flush()
    allocate_fixed_ips(svc, session, ctx, port, net, requested, keep=keep)
    # A floating IP whose inside address the port lost is no longer associated (as in neutron).
    disassociate_port(session, port.id, keep_addresses={
        a.ip_address for a in session.scalars(select(IPAllocation).where(IPAllocation.port_id == port.id))})


def delete_port(svc: "NetworkService", session: Session, ctx: RequestContext, port_id: str) -> None:
    port = get_port_row(session, ctx, port_id)
    svc.enforce(ctx, "delete_port", {"project_id": port.project_id})
    if port.device_owner in SERVICE_PORT_OWNERS:
        raise Conflict(f"Port {port.id} cannot be deleted directly via the port API: has device owner "
                       f"{port.device_owner}.", kind="ServicePortInUse")
    disassociate_port(session, port.id)
    delete_port_row(session, port)


