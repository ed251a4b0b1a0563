"""Security group rules: protocols, port ranges, remotes, duplicates: no HTTP here."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest, Conflict, NotFound
from gureum.network import views
from gureum.network.attributes import INTEGER, NULLABLE_STRING, OWNER, STANDARD, STRING, Attr, Resource, string
from gureum.network.common import as_int, invalid, invalid_operation
from gureum.network.listing import ListQuery, Page, page, where
from gureum.network.models import SecurityGroup, SecurityGroupRule
from gureum.network.security_groups import ensure_default_sg, get_sg_row

if TYPE_CHECKING:
    from gureum.network.service import NetworkService

PROTOCOLS = {"ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "icmp": 1, "icmpv6": 58, "igmp": 2,
             "ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58, "ipv6-nonxt": 59,
             "ipv6-opts": 60, "ipv6-route": 43, "ospf": 89, "pgm": 113, "rsvp": 46, "sctp": 132, "tcp": 6,
             "udp": 17, "udplite": 136, "vrrp": 112}
PORT_PROTOCOLS = {"tcp", "udp", "udplite", "sctp", "dccp", "6", "17", "136", "132", "33"}
ICMP_PROTOCOLS = {"icmp", "icmpv6", "ipv6-icmp", "1", "58"}

RULE = Resource("security_group_rule", SecurityGroupRule, (
    *STANDARD, *OWNER,
    Attr("security_group_id", "security_group_id", put=None, schema={"type": "string"}),
    Attr("direction", "direction", put=None, schema={"enum": ["ingress", "egress"]}),
    Attr("ethertype", "ethertype", put=None, default="IPv4", schema=NULLABLE_STRING),
    Attr("protocol", "protocol", put=None, schema={"type": ["string", "integer", "null"]}),
    Attr("port_range_min", "port_range_min", put=None, schema={**INTEGER, "type": ["integer", "string", "null"]}),
    Attr("port_range_max", "port_range_max", put=None, schema={**INTEGER, "type": ["integer", "string", "null"]}),
    Attr("remote_ip_prefix", "remote_ip_prefix", put=None, schema=NULLABLE_STRING),
    Attr("remote_group_id", "remote_group_id", put=None, schema=NULLABLE_STRING),
    Attr("remote_address_group_id", None, put=None, const=None, schema=NULLABLE_STRING),
    Attr("description", "description", put=None, convert=string, default="", schema=STRING),
))


def get_rule_row(session: Session, ctx: RequestContext, rule_id: str) -> SecurityGroupRule:
    rule = session.get(SecurityGroupRule, rule_id) if isinstance(rule_id, str) and rule_id else None
    if rule is None or not (ctx.is_admin or rule.project_id == ctx.project_id):
        raise NotFound(f"Security group rule {rule_id} could not be found.", kind="SecurityGroupRuleNotFound")
    return rule


def list_rules(svc: "NetworkService", session: Session, ctx: RequestContext,
               wanted: ListQuery) -> tuple[list[dict[str, Any]], Page]:
    ensure_default_sg(session, ctx.project_id)
    query = select(SecurityGroupRule)
    if not ctx.is_admin:
        query = query.where(SecurityGroupRule.project_id == ctx.project_id)
    query = query.where(*where(RULE, wanted.filters, lambda _: True))
    result = page(session, RULE, query, wanted)
    return [views.rule(r) for r in result.rows], result


def show_rule(svc: "NetworkService", session: Session, ctx: RequestContext, rule_id: str) -> dict[str, Any]:
    return views.rule(get_rule_row(session, ctx, rule_id))


def _protocol(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value.lower() == "any"):
        return None
    text = str(value).lower()
    if text in PROTOCOLS:
        return text
    if text.isdigit() and 0 <= int(text) <= 255:
        return text
    raise BadRequest(f"Security group rule protocol {value} not supported. Only protocol values "
                     f"[None, {', '.join(sorted(PROTOCOLS))}] and integer representations [0 to 255] are supported.",
                     kind="SecurityGroupRuleInvalidProtocol")


def _port_range(protocol: str | None, pmin: int | None, pmax: int | None) -> None:
    if pmin is None and pmax is None:
        return
    if protocol in PORT_PROTOCOLS:
        if pmin is None or pmax is None:
            raise BadRequest("For TCP/UDP protocols, port_range_min must be <= port_range_max",
                             kind="SecurityGroupInvalidPortRange")
        for port in (pmin, pmax):
            if not 1 <= port <= 65535:
                raise BadRequest(f"Invalid value for port {port}", kind="SecurityGroupInvalidPortValue")
        if pmin > pmax:
            raise BadRequest("For TCP/UDP protocols, port_range_min must be <= port_range_max",
                             kind="SecurityGroupInvalidPortRange")
    elif protocol in ICMP_PROTOCOLS:
        if pmin is None and pmax is not None:
            raise BadRequest(f"ICMP code (port-range-max) {pmax} is provided but ICMP type (port-range-min) "
                             "is missing.", kind="SecurityGroupMissingIcmpType")
        for name, port in (("type", pmin), ("code", pmax)):
            if port is not None and not 0 <= port <= 255:
                raise BadRequest(f"Invalid value for ICMP {name} {port}: must be 0 through 255.",
                                 kind="SecurityGroupInvalidIcmpValue")
    else:
        raise BadRequest(f"Invalid protocol {protocol} for port range, only supported for TCP, UDP, UDPLITE, "
                         "SCTP and DCCP protocols.", kind="SecurityGroupInvalidProtocolForPortRange")


def _remote_prefix(prefix: Any, ethertype: str) -> str | None:
    if prefix is None:
        return None
    try:
        network = ipaddress.ip_network(str(prefix), strict=False)
    except ValueError as exc:
        raise invalid("remote_ip_prefix", f"'{prefix}' is not a valid IP subnet") from exc
    if f"IPv{network.version}" != ethertype:
        raise BadRequest(f"Conflicting value ethertype {ethertype} for CIDR {prefix}",
                         kind="SecurityGroupRuleParameterConflict")
    return str(network)


def create_rule(svc: "NetworkService", session: Session, ctx: RequestContext, attrs: dict[str, Any]) -> dict[str, Any]:
    RULE.check_body(attrs, "POST")
    for name in ("security_group_id", "direction"):
        if name not in attrs:
            raise BadRequest(f"Failed to parse request. Required attribute '{name}' not specified",
                             kind="HTTPBadRequest")
    sg = get_sg_row(session, ctx, attrs["security_group_id"])
    svc.enforce(ctx, "create_security_group_rule", {"project_id": sg.project_id})
    direction = attrs["direction"]
    if direction not in ("ingress", "egress"):
        raise invalid("direction", f"{direction} is not in ['ingress', 'egress']")
    ethertype = attrs.get("ethertype") or "IPv4"
    if ethertype not in ("IPv4", "IPv6"):
        raise invalid("ethertype", f"{ethertype} is not in ['IPv4', 'IPv6']")
    protocol = _protocol(attrs.get("protocol"))
    if protocol in ("icmp", "1") and ethertype == "IPv6":
        protocol = "ipv6-icmp"
    pmin, pmax = attrs.get("port_range_min"), attrs.get("port_range_max")
    pmin = None if pmin is None else as_int(pmin, "port_range_min")
    pmax = None if pmax is None else as_int(pmax, "port_range_max")
    _port_range(protocol, pmin, pmax)
    prefix, remote_group = attrs.get("remote_ip_prefix"), attrs.get("remote_group_id")
    if attrs.get("remote_address_group_id") is not None:
        raise invalid_operation("remote_address_group_id needs address groups, which gureum does not have yet")
    if prefix is not None and remote_group is not None:
        raise BadRequest("Only remote_ip_prefix or remote_group_id may be provided.",
                         kind="SecurityGroupRemoteGroupAndRemoteIpPrefix")
    prefix = _remote_prefix(prefix, ethertype)
    if remote_group is not None:
        get_sg_row(session, ctx, remote_group)
    description = RULE.value(attrs, "description")
    wanted = (direction, ethertype, protocol, pmin, pmax, prefix, remote_group)
    for rule in session.scalars(select(SecurityGroupRule).where(SecurityGroupRule.security_group_id == sg.id)):
        if (rule.direction, rule.ethertype, rule.protocol, rule.port_range_min, rule.port_range_max,
                rule.remote_ip_prefix, rule.remote_group_id) == wanted:
            raise Conflict(f"Security group rule already exists. Rule id is {rule.id}.",
                           kind="SecurityGroupRuleExists")
    svc.check_quota(session, sg.project_id, "security_group_rule")
    rule = SecurityGroupRule(project_id=sg.project_id, security_group_id=sg.id, direction=direction,
                             ethertype=ethertype, protocol=protocol, port_range_min=pmin, port_range_max=pmax,
                             remote_ip_prefix=prefix, remote_group_id=remote_group, description=description)
    session.add(rule)
    sg.revision_number += 1
    session.flush()
    return views.rule(rule)


def delete_rule(svc: "NetworkService", session: Session, ctx: RequestContext, rule_id: str) -> None:
    rule = get_rule_row(session, ctx, rule_id)
    svc.enforce(ctx, "delete_security_group_rule", {"project_id": rule.project_id})
    sg = session.get(SecurityGroup, rule.security_group_id)
    if sg is not None:
        sg.revision_number += 1
    session.delete(rule)
