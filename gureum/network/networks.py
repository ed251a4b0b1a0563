"""Networks (neutron's network, provider, external-net, port-security, net-mtu): no HTTP here."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gureum.http.context import RequestContext
from gureum.http.errors import Conflict, NotFound, ServiceUnavailable
from gureum.network import views
from gureum.network.attributes import (
    BOOLEAN, LIST, NULLABLE_STRING, OWNER, STANDARD, STRING, Attr, Resource, boolean, string,
)
from gureum.network.common import as_dict, as_int, as_list, as_str, invalid_operation
from gureum.network.desired import DHCP_OWNER
from gureum.network.floating_ips import FLOATING_IP_OWNER, delete_floating_ips_on_network
from gureum.network.listing import ListQuery, Page, page, where
from gureum.network.models import Network, Port, Subnet
from gureum.network.routers import delete_port_row

if TYPE_CHECKING:
    from gureum.network.service import NetworkService

AVAILABILITY_ZONE = "nova"
VXLAN_MTU = 1450
FLAT_MTU = 1500
VXLAN_MAX = 16777215
VLAN_NOTE = ("VLAN networks need the 802.1Q (8021q) kernel module on every host that plugs a port on them; "
             "the dataplane refuses to build this network on a host without it.")
# Ports the network service makes for itself: they go with their subnet or network (neutron's
# AUTO_DELETE_PORT_OWNERS) and never keep one in use.
AUTO_DELETE_OWNERS = (DHCP_OWNER,)
PROVIDER = "get_network:provider:network_type"

NETWORK = Resource("network", Network, (
    *STANDARD, *OWNER,
    Attr("name", "name", convert=string, default="", schema=STRING),
    Attr("description", "description", convert=string, default="", schema=STRING),
    Attr("admin_state_up", "admin_state_up", convert=boolean, default=True, schema=BOOLEAN),
    Attr("shared", "shared", convert=boolean, default=False, policy=True, schema=BOOLEAN),
    Attr("router:external", "external", convert=boolean, default=False, policy=True, schema=BOOLEAN),
    Attr("port_security_enabled", "port_security_enabled", convert=boolean, default=True, schema=BOOLEAN),
    # Provider attributes are set on create only (an update may repeat the current value).
    Attr("provider:network_type", "network_type", policy=True, read_policy=PROVIDER, schema=NULLABLE_STRING),
    Attr("provider:physical_network", None, policy=True, read_policy=PROVIDER, schema=NULLABLE_STRING,
         sql=lambda wanted: _physnet_filter(wanted)),
    Attr("provider:segmentation_id", "segmentation_id", policy=True, read_policy=PROVIDER,
         schema={"type": ["integer", "string", "null"]}),
    Attr("segments", None, put=None, policy=True, schema=LIST),
    Attr("availability_zone_hints", None, put=None, default=[], policy=True, schema=LIST),
    Attr("status", "status", post=False, put=False),
    Attr("subnets", None, post=False, put=False),
    Attr("mtu", "mtu", post=False, put=False),
    Attr("is_default", None, post=False, put=None),
    Attr("availability_zones", None, post=False, put=False, const=[AVAILABILITY_ZONE]),
    Attr("l2_adjacency", None, post=False, put=False, const=True),
    Attr("ipv4_address_scope", None, post=False, put=False, const=None),
    Attr("ipv6_address_scope", None, post=False, put=False, const=None),
    Attr("tags", None, post=None, put=None, const=[]),
))


def _physnet_filter(wanted: list[str]) -> Any:
    from gureum.network.listing import column_filter  # noqa: PLC0415

    # Stored '' (never NULL, for the unique key) but shown null.
    values = ["" if w in ("", "None", "null") else w for w in wanted]
    return column_filter(Network.physical_network, values)


def vni_range_from_env() -> tuple[int, int]:
    """GUREUM_VXLAN_VNI_RANGE=low:high (default 1:1000), within 1..16777215."""
    text = os.environ.get("GUREUM_VXLAN_VNI_RANGE", "1:1000")
    low, _, high = text.partition(":")
    lo, hi = int(low), int(high or low)
    if not 1 <= lo <= hi <= VXLAN_MAX:
        raise ValueError(f"GUREUM_VXLAN_VNI_RANGE {text!r}: need 1 <= low <= high <= {VXLAN_MAX}")
    return lo, hi


# ---- rows ------------------------------------------------------------------------------


def can_see(ctx: RequestContext, net: Network) -> bool:
    return ctx.is_admin or net.project_id == ctx.project_id or net.shared or net.external


def visible_ids(ctx: RequestContext) -> Any:
    """The ids of the networks a non-admin caller sees (a subquery)."""
    return select(Network.id).where((Network.project_id == ctx.project_id) | Network.shared | Network.external)


def get_network_row(session: Session, ctx: RequestContext, network_id: str) -> Network:
    net = session.get(Network, network_id) if isinstance(network_id, str) and network_id else None
    if net is None or not can_see(ctx, net):
        raise NotFound(f"Network {network_id} could not be found.", kind="NetworkNotFound")
    return net


# ---- read ------------------------------------------------------------------------------


def list_networks(svc: "NetworkService", session: Session, ctx: RequestContext,
                  wanted: ListQuery) -> tuple[list[dict[str, Any]], Page]:
    query = select(Network)
    if not ctx.is_admin:
        query = query.where((Network.project_id == ctx.project_id) | Network.shared | Network.external)
    target = {"project_id": ctx.project_id}
    query = query.where(*where(NETWORK, wanted.filters, lambda n: NETWORK.visible(svc, ctx, n, target)))
    result = page(session, NETWORK, query, wanted)
    return views.networks(svc, session, ctx, result.rows), result


def show_network(svc: "NetworkService", session: Session, ctx: RequestContext, network_id: str) -> dict[str, Any]:
    return views.networks(svc, session, ctx, [get_network_row(session, ctx, network_id)])[0]


# ---- create ----------------------------------------------------------------------------


def create_network(svc: "NetworkService", session: Session, ctx: RequestContext,
                   attrs: dict[str, Any]) -> dict[str, Any]:
    NETWORK.check_body(attrs, "POST")
    project = svc.owner_of(ctx, attrs)
    target = {"project_id": project}
    svc.enforce(ctx, "create_network", target)
    NETWORK.enforce_given(svc, ctx, "create", attrs, target)
    hints = [as_str(h, "availability_zone_hints") for h in as_list(attrs.get("availability_zone_hints", []),
                                                                      "availability_zone_hints")]
    for hint in hints:
        if hint != AVAILABILITY_ZONE:
            raise NotFound(f"AvailabilityZone {hint} could not be found.", kind="AvailabilityZoneNotFound")
    svc.check_quota(session, project, "network")
    ntype, physnet, seg_id = _segment(svc, session, attrs)
    net = Network(
        name=NETWORK.value(attrs, "name"), description=NETWORK.value(attrs, "description"),
        project_id=project, admin_state_up=NETWORK.value(attrs, "admin_state_up"),
        shared=NETWORK.value(attrs, "shared"), external=NETWORK.value(attrs, "router:external"),
        port_security_enabled=NETWORK.value(attrs, "port_security_enabled"),
        network_type=ntype, physical_network=physnet, segmentation_id=seg_id,
        mtu=VXLAN_MTU if ntype == "vxlan" else FLAT_MTU, availability_zone_hints=hints,
        dataplane_note=VLAN_NOTE if ntype == "vlan" else None,
    )
    try:
        with session.begin_nested():
            session.add(net)
            session.flush()
    except IntegrityError as exc:
        # Another writer took the same segment between our check and insert.
        raise Conflict(f"Unable to create the network. Segment {ntype} {seg_id} is in use.",
                       kind="SegmentationIdInUse" if ntype == "vlan" else "TunnelIdInUse") from exc
    return views.networks(svc, session, ctx, [net])[0]


def _segment(svc: "NetworkService", session: Session, attrs: dict[str, Any]) -> tuple[str, str, int | None]:
    segments = attrs.get("segments")
    if segments is not None:
        segments = as_list(segments, "segments")
        if any(k.startswith("provider:") for k in attrs):
            raise invalid_operation("Segments and provider values cannot both be set")
        if len(segments) != 1:
            raise invalid_operation("gureum networks have exactly one segment; give one in 'segments'")
        attrs = as_dict(segments[0], "segments")
    ntype = attrs.get("provider:network_type")
    physnet = attrs.get("provider:physical_network")
    seg_id = attrs.get("provider:segmentation_id")
    if physnet is not None:
        physnet = as_str(physnet, "provider:physical_network", 64)
    if ntype is None:
        if physnet is not None or seg_id is not None:
            raise invalid_operation("provider:network_type required")
        ntype = "vxlan"
    if ntype not in ("flat", "vlan", "vxlan"):
        raise invalid_operation(f"network_type value '{ntype}' not supported (gureum has flat, vlan and vxlan)")
    if ntype == "flat":
        if not physnet:
            raise invalid_operation("physical_network required for flat provider network")
        if seg_id is not None:
            raise invalid_operation("segmentation_id specified for flat network")
        in_use = session.scalar(select(Network.id).where(Network.network_type == "flat",
                                                         Network.physical_network == physnet))
        if in_use:
            raise Conflict(f"Unable to create the flat network. Physical network {physnet} is in use.",
                           kind="FlatNetworkInUse")
        return ntype, physnet, None
    if ntype == "vlan":
        if not physnet:
            raise invalid_operation("physical_network required for VLAN provider network")
        if seg_id is None:
            return ntype, physnet, _free_id(session, "vlan", physnet, 1, 4094)
        vlan = as_int(seg_id, "provider:segmentation_id", 1, 4094)
        _segment_free(session, "vlan", physnet, vlan)
        return ntype, physnet, vlan
    if physnet:
        raise invalid_operation("provider:physical_network specified for vxlan network")
    if seg_id is None:
        return ntype, "", _free_id(session, "vxlan", "", *svc.vni_range)
    vni = as_int(seg_id, "provider:segmentation_id", 1, VXLAN_MAX)
    _segment_free(session, "vxlan", "", vni)
    return ntype, "", vni


def _segment_free(session: Session, ntype: str, physnet: str, seg_id: int) -> None:
    taken = session.scalar(select(Network.id).where(Network.network_type == ntype, Network.physical_network == physnet,
                                                    Network.segmentation_id == seg_id))
    if taken:
        if ntype == "vlan":
            raise Conflict(f"Unable to create the network. The VLAN {seg_id} on physical network {physnet} "
                           "is in use.", kind="VlanIdInUse")
        raise Conflict(f"Unable to create the network. The tunnel ID {seg_id} is in use.", kind="TunnelIdInUse")


def _free_id(session: Session, ntype: str, physnet: str, low: int, high: int) -> int:
    used = set(session.scalars(select(Network.segmentation_id).where(
        Network.network_type == ntype, Network.physical_network == physnet,
        Network.segmentation_id >= low, Network.segmentation_id <= high)))
    for candidate in range(low, high + 1):
        if candidate not in used:
            return candidate
    raise ServiceUnavailable("Unable to create the network. No tenant network is available for allocation.",
                             kind="NoNetworkAvailable")


# ---- update, delete --------------------------------------------------------------------


def update_network(svc: "NetworkService", session: Session, ctx: RequestContext, network_id: str,
                   attrs: dict[str, Any]) -> dict[str, Any]:
    net = get_network_row(session, ctx, network_id)
    NETWORK.check_body(attrs, "PUT")
    target = {"project_id": net.project_id}
    svc.enforce(ctx, "update_network", target)
    NETWORK.enforce_given(svc, ctx, "update", attrs, target)
    current = {"provider:network_type": net.network_type, "provider:segmentation_id": net.segmentation_id,
               "provider:physical_network": net.physical_network or None}
    for name, value in current.items():
        if name in attrs and attrs[name] != value:
            raise invalid_operation("Plugin does not support updating provider attributes")
    NETWORK.apply(net, {k: v for k, v in attrs.items() if k not in current})
    net.revision_number += 1
    session.flush()
    return show_network(svc, session, ctx, net.id)


def delete_network(svc: "NetworkService", session: Session, ctx: RequestContext, network_id: str) -> None:
    net = get_network_row(session, ctx, network_id)
    svc.enforce(ctx, "delete_network", {"project_id": net.project_id})
    # gureum's own DHCP ports go with the network, as neutron's auto-delete owners do.
    for port in session.scalars(select(Port).where(Port.network_id == net.id,
                                                   Port.device_owner.in_(AUTO_DELETE_OWNERS))):
        delete_port_row(session, port)
    if session.scalar(select(Port.id).where(Port.network_id == net.id, Port.device_owner != FLOATING_IP_OWNER)
                      .limit(1)):
        raise Conflict(f"Unable to complete operation on network {net.id}. There are one or more ports still "
                       "in use on the network.", kind="NetworkInUse")
    # Unassociated floating IPs do not keep an external network alive, as in neutron: they go with it.
    delete_floating_ips_on_network(session, net.id)
    for subnet in session.scalars(select(Subnet).where(Subnet.network_id == net.id)):
        session.delete(subnet)
    session.flush()
    session.delete(net)
