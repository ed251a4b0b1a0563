"""The network service: networks, subnets, ports, security groups, quotas (no HTTP here).

Every call takes a database session and the caller's context and answers neutron's
dicts (the views), so the API layer stays thin and the compute side can call the
same code in-process (`allocate_ports_for_server`).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from gureum.http.context import RequestContext
from gureum.http.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound, ServiceUnavailable
from gureum.network import ipam
from gureum.network.common import (
    as_bool, as_dict, as_int, as_ip, as_list, as_mac, as_str, check_keys, invalid, invalid_operation, read_only,
    timestamp,
)
from gureum.db.revision import RevisionWatch
from gureum.network.revision import watch_network_changes
from gureum.network.floating_ips import FLOATING_IP_OWNER, delete_floating_ips_on_network, disassociate_port
from gureum.network.models import (
    DefaultSecurityGroup, FloatingIP, IPAllocation, Network, NetworkQuota, Port, Router, SecurityGroup,
    SecurityGroupRule, Subnet,
)
from gureum.network.routers import ROUTER_GATEWAY, ROUTER_INTERFACE
from gureum.network.policies import NETWORK_POLICIES

if TYPE_CHECKING:
    from gureum.cloud import Cloud

AVAILABILITY_ZONE = "nova"
VXLAN_MTU = 1450
FLAT_MTU = 1500
VXLAN_MAX = 16777215
VLAN_NOTE = ("VLAN networks need the 802.1Q (8021q) kernel module on every host that plugs a port on them; "
             "the dataplane refuses to build this network on a host without it.")
DEFAULT_QUOTAS: dict[str, int] = {
    "network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50,
    "security_group": 10, "security_group_rule": 100,
}
QUOTA_MODELS = {"network": Network, "subnet": Subnet, "port": Port, "security_group": SecurityGroup,
                "security_group_rule": SecurityGroupRule, "router": Router, "floatingip": FloatingIP}
# Ports the routers and floating IPs own: they go away with their router leg or floating IP.
SERVICE_PORT_OWNERS = (ROUTER_INTERFACE, ROUTER_GATEWAY, FLOATING_IP_OWNER)
PROTOCOLS = {"ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "icmp": 1, "icmpv6": 58, "igmp": 2,
             "ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58, "ipv6-nonxt": 59,
             "ipv6-opts": 60, "ipv6-route": 43, "ospf": 89, "pgm": 113, "rsvp": 46, "sctp": 132, "tcp": 6,
             "udp": 17, "udplite": 136, "vrrp": 112}
PORT_PROTOCOLS = {"tcp", "udp", "udplite", "sctp", "dccp", "6", "17", "136", "132", "33"}
ICMP_PROTOCOLS = {"icmp", "icmpv6", "ipv6-icmp", "1", "58"}


def vni_range_from_env() -> tuple[int, int]:
    """GUREUM_VXLAN_VNI_RANGE=low:high (default 1:1000), within 1..16777215."""
    text = os.environ.get("GUREUM_VXLAN_VNI_RANGE", "1:1000")
    low, _, high = text.partition(":")
    lo, hi = int(low), int(high or low)
    if not 1 <= lo <= hi <= VXLAN_MAX:
        raise ValueError(f"GUREUM_VXLAN_VNI_RANGE {text!r}: need 1 <= low <= high <= {VXLAN_MAX}")
    return lo, hi


def policy_error(action: str) -> Forbidden:
    return Forbidden(f"({action}) is disallowed by policy", kind="PolicyNotAuthorized")


def _is_set(value: Any, default: Any) -> bool:
    return value is not None and value != default


class NetworkService:
    def __init__(self, cloud: "Cloud") -> None:
        self.cloud = cloud
        self.vni_range = vni_range_from_env()
        cloud.policy.register_defaults(NETWORK_POLICIES)
        self.revision = RevisionWatch(cloud.db, "network")
        watch_network_changes(cloud.db.write_factory, self.revision, self._wake_agents)

    def start(self) -> None:
        self.revision.ensure_row()

    def _wake_agents(self) -> None:
        compute = getattr(self.cloud, "compute", None)
        if compute is not None:
            compute.signals.notify_all()

    # ---- policy and visibility -------------------------------------------------

    def allowed(self, ctx: RequestContext, action: str, target: dict[str, Any]) -> bool:
        return self.cloud.policy.authorize(ctx, action, target)

    def enforce(self, ctx: RequestContext, action: str, target: dict[str, Any]) -> None:
        if not self.allowed(ctx, action, target):
            raise policy_error(f"rule:{action}")

    def owner_of(self, ctx: RequestContext, attrs: dict[str, Any]) -> str:
        """The project a new resource belongs to: the caller's, or another for an admin."""
        wanted = attrs.get("project_id") or attrs.get("tenant_id")
        if "project_id" in attrs and "tenant_id" in attrs and attrs["project_id"] != attrs["tenant_id"]:
            raise invalid_operation("'project_id' and 'tenant_id' do not match")
        if wanted is not None:
            as_str(wanted, "project_id")
        if wanted and wanted != ctx.project_id and not ctx.is_admin:
            raise BadRequest("Specifying 'project_id' or 'tenant_id' other than the authenticated project in "
                             "request requires admin privileges", kind="HTTPBadRequest")
        project = wanted or ctx.project_id
        if not project:
            raise BadRequest("A project-scoped token is needed to create networking resources: "
                             "'project_id' could not be determined.", kind="HTTPBadRequest")
        return project

    def can_see_network(self, ctx: RequestContext, net: Network) -> bool:
        return ctx.is_admin or net.project_id == ctx.project_id or net.shared or net.external

    def get_network_row(self, session: Session, ctx: RequestContext, network_id: str) -> Network:
        net = session.get(Network, network_id) if network_id else None
        if net is None or not self.can_see_network(ctx, net):
            raise NotFound(f"Network {network_id} could not be found.", kind="NetworkNotFound")
        return net

    def get_subnet_row(self, session: Session, ctx: RequestContext, subnet_id: str) -> Subnet:
        subnet = session.get(Subnet, subnet_id) if isinstance(subnet_id, str) and subnet_id else None
        if subnet is None:
            raise NotFound(f"Subnet {subnet_id} could not be found.", kind="SubnetNotFound")
        net = session.get(Network, subnet.network_id)
        if subnet.project_id != ctx.project_id and not ctx.is_admin and not (net and self.can_see_network(ctx, net)):
            raise NotFound(f"Subnet {subnet_id} could not be found.", kind="SubnetNotFound")
        return subnet

    def get_port_row(self, session: Session, ctx: RequestContext, port_id: str) -> Port:
        port = session.get(Port, port_id) if port_id else None
        if port is None or not (ctx.is_admin or port.project_id == ctx.project_id or self._owns_network_of(session, ctx, port)):
            raise NotFound(f"Port {port_id} could not be found.", kind="PortNotFound")
        return port

    def _owns_network_of(self, session: Session, ctx: RequestContext, port: Port) -> bool:
        net = session.get(Network, port.network_id)
        return net is not None and net.project_id == ctx.project_id

    def get_sg_row(self, session: Session, ctx: RequestContext, sg_id: str) -> SecurityGroup:
        sg = session.get(SecurityGroup, sg_id) if isinstance(sg_id, str) and sg_id else None
        if sg is None or not (ctx.is_admin or sg.project_id == ctx.project_id):
            raise NotFound(f"Security group {sg_id} does not exist", kind="SecurityGroupNotFound")
        return sg

    # ---- quotas ------------------------------------------------------------------

    def quota_limits(self, session: Session, project_id: str) -> dict[str, int]:
        limits = dict(DEFAULT_QUOTAS)
        for row in session.scalars(select(NetworkQuota).where(NetworkQuota.project_id == project_id)):
            limits[row.resource] = row.hard_limit
        return limits

    def quota_usage(self, session: Session, project_id: str) -> dict[str, int]:
        used = {name: 0 for name in DEFAULT_QUOTAS}
        for name, model in QUOTA_MODELS.items():
            used[name] = session.scalar(select(func.count()).select_from(model).where(model.project_id == project_id)) or 0
        return used

    def check_quota(self, session: Session, project_id: str, resource: str, adding: int = 1) -> None:
        limit = self.quota_limits(session, project_id)[resource]
        if limit < 0:
            return
        model = QUOTA_MODELS[resource]
        used = session.scalar(select(func.count()).select_from(model).where(model.project_id == project_id)) or 0
        if used + adding > limit:
            raise Conflict(f"Quota exceeded for resources: ['{resource}'].", kind="OverQuota")

    def update_quota(self, session: Session, project_id: str, values: dict[str, Any]) -> dict[str, int]:
        values = dict(values)
        # The CLI sends check_limit (neutron's quota-check-limit): refuse a limit below current use.
        check_limit = as_bool(values.pop("check_limit", False), "check_limit")
        used = self.quota_usage(session, project_id) if check_limit else {}
        for resource, value in values.items():
            if resource not in DEFAULT_QUOTAS:
                raise BadRequest(f"Unrecognized attribute(s) '{resource}'", kind="HTTPBadRequest")
            limit = as_int(value, resource, -1, 2**31 - 1)
            if check_limit and limit >= 0 and used.get(resource, 0) > limit:
                raise BadRequest(f"Quota limit {limit} for {resource} must be greater than or equal to already "
                                 f"used and reserved {used[resource]}.", kind="InvalidQuotaValue")
            row = session.get(NetworkQuota, (project_id, resource))
            if row is None:
                session.add(NetworkQuota(project_id=project_id, resource=resource, hard_limit=limit))
            else:
                row.hard_limit = limit
        session.flush()
        return self.quota_limits(session, project_id)

    def delete_quota(self, session: Session, project_id: str) -> None:
        for row in session.scalars(select(NetworkQuota).where(NetworkQuota.project_id == project_id)):
            session.delete(row)

    # ---- networks ------------------------------------------------------------------

    def network_view(self, session: Session, ctx: RequestContext, net: Network) -> dict[str, Any]:
        subnets = list(session.scalars(select(Subnet.id).where(Subnet.network_id == net.id).order_by(Subnet.created_at)))
        view: dict[str, Any] = {
            "id": net.id, "name": net.name, "description": net.description,
            "project_id": net.project_id, "tenant_id": net.project_id,
            "admin_state_up": net.admin_state_up, "status": net.status, "shared": net.shared,
            "router:external": net.external, "mtu": net.mtu, "port_security_enabled": net.port_security_enabled,
            "subnets": subnets, "availability_zone_hints": list(net.availability_zone_hints),
            "availability_zones": [AVAILABILITY_ZONE], "ipv4_address_scope": None, "ipv6_address_scope": None,
            "l2_adjacency": True, "tags": [],
            "created_at": timestamp(net.created_at), "updated_at": timestamp(net.updated_at),
            "revision_number": net.revision_number,
        }
        if self.allowed(ctx, "get_network:provider:network_type", {"project_id": net.project_id}):
            view["provider:network_type"] = net.network_type
            view["provider:physical_network"] = net.physical_network or None
            view["provider:segmentation_id"] = net.segmentation_id
        return view

    def list_networks(self, session: Session, ctx: RequestContext) -> list[dict[str, Any]]:
        query = select(Network).order_by(Network.created_at, Network.id)
        if not ctx.is_admin:
            query = query.where((Network.project_id == ctx.project_id) | Network.shared | Network.external)
        return [self.network_view(session, ctx, n) for n in session.scalars(query)]

    def _segment(self, session: Session, attrs: dict[str, Any]) -> tuple[str, str, int | None]:
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
                return ntype, physnet, self._free_id(session, "vlan", physnet, 1, 4094)
            vlan = as_int(seg_id, "provider:segmentation_id", 1, 4094)
            self._segment_free(session, "vlan", physnet, vlan)
            return ntype, physnet, vlan
        if physnet:
            raise invalid_operation("provider:physical_network specified for vxlan network")
        if seg_id is None:
            return ntype, "", self._free_id(session, "vxlan", "", *self.vni_range)
        vni = as_int(seg_id, "provider:segmentation_id", 1, VXLAN_MAX)
        self._segment_free(session, "vxlan", "", vni)
        return ntype, "", vni

    def _segment_free(self, session: Session, ntype: str, physnet: str, seg_id: int) -> None:
        taken = session.scalar(select(Network.id).where(Network.network_type == ntype, Network.physical_network == physnet,
                                                        Network.segmentation_id == seg_id))
        if taken:
            if ntype == "vlan":
                raise Conflict(f"Unable to create the network. The VLAN {seg_id} on physical network {physnet} "
                               "is in use.", kind="VlanIdInUse")
            raise Conflict(f"Unable to create the network. The tunnel ID {seg_id} is in use.", kind="TunnelIdInUse")

    def _free_id(self, session: Session, ntype: str, physnet: str, low: int, high: int) -> int:
        used = set(session.scalars(select(Network.segmentation_id).where(
            Network.network_type == ntype, Network.physical_network == physnet,
            Network.segmentation_id >= low, Network.segmentation_id <= high)))
        for candidate in range(low, high + 1):
            if candidate not in used:
                return candidate
        raise ServiceUnavailable("Unable to create the network. No tenant network is available for allocation.",
                                 kind="NoNetworkAvailable")

    NETWORK_CREATE_KEYS = {"name", "description", "admin_state_up", "shared", "router:external", "project_id",
                           "tenant_id", "port_security_enabled", "provider:network_type",
                           "provider:physical_network", "provider:segmentation_id", "segments",
                           "availability_zone_hints", "mtu", "is_default", "tags"}
    NETWORK_READ_ONLY = {"id", "status", "subnets", "availability_zones", "created_at", "updated_at",
                         "revision_number", "l2_adjacency", "ipv4_address_scope", "ipv6_address_scope"}

    def create_network(self, session: Session, ctx: RequestContext, attrs: dict[str, Any]) -> dict[str, Any]:
        read_only(attrs, self.NETWORK_READ_ONLY, "POST")
        read_only(attrs, {"mtu", "is_default"}, "POST")
        check_keys(attrs, self.NETWORK_CREATE_KEYS - {"mtu", "is_default", "tags"}, "POST")
        project = self.owner_of(ctx, attrs)
        target = {"project_id": project}
        self.enforce(ctx, "create_network", target)
        defaults = {"shared": False, "router:external": False, "availability_zone_hints": []}
        for name in ("shared", "router:external", "provider:network_type", "provider:physical_network",
                     "provider:segmentation_id", "segments", "availability_zone_hints"):
            if name in attrs and _is_set(attrs[name], defaults.get(name)):
                self.enforce(ctx, f"create_network:{name}", target)
        hints = [as_str(h, "availability_zone_hints") for h in as_list(attrs.get("availability_zone_hints", []),
                                                                          "availability_zone_hints")]
        for hint in hints:
            if hint != AVAILABILITY_ZONE:
                raise NotFound(f"AvailabilityZone {hint} could not be found.", kind="AvailabilityZoneNotFound")
        self.check_quota(session, project, "network")
        ntype, physnet, seg_id = self._segment(session, attrs)
        net = Network(
            name=as_str(attrs.get("name", ""), "name") or "",
            description=as_str(attrs.get("description", ""), "description") or "",
            project_id=project,
            admin_state_up=as_bool(attrs.get("admin_state_up", True), "admin_state_up"),
            shared=as_bool(attrs.get("shared", False), "shared"),
            external=as_bool(attrs.get("router:external", False), "router:external"),
            port_security_enabled=as_bool(attrs.get("port_security_enabled", True), "port_security_enabled"),
            network_type=ntype, physical_network=physnet, segmentation_id=seg_id,
            mtu=VXLAN_MTU if ntype == "vxlan" else FLAT_MTU,
            availability_zone_hints=hints,
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
        return self.network_view(session, ctx, net)

    def update_network(self, session: Session, ctx: RequestContext, network_id: str, attrs: dict[str, Any]) -> dict[str, Any]:
        net = self.get_network_row(session, ctx, network_id)
        read_only(attrs, self.NETWORK_READ_ONLY | {"project_id", "tenant_id", "mtu"}, "PUT")
        check_keys(attrs, {"name", "description", "admin_state_up", "shared", "router:external",
                           "port_security_enabled", "provider:network_type", "provider:physical_network",
                           "provider:segmentation_id"}, "PUT")
        target = {"project_id": net.project_id}
        self.enforce(ctx, "update_network", target)
        for name in ("shared", "router:external"):
            if name in attrs:
                self.enforce(ctx, f"update_network:{name}", target)
        for name in ("provider:network_type", "provider:physical_network", "provider:segmentation_id"):
            if name in attrs:
                self.enforce(ctx, f"update_network:{name}", target)
                current = {"provider:network_type": net.network_type, "provider:segmentation_id": net.segmentation_id,
                           "provider:physical_network": net.physical_network or None}[name]
                if attrs[name] != current:
                    raise invalid_operation("Plugin does not support updating provider attributes")
        if "name" in attrs:
            net.name = as_str(attrs["name"], "name") or ""
        if "description" in attrs:
            net.description = as_str(attrs["description"], "description") or ""
        if "admin_state_up" in attrs:
            net.admin_state_up = as_bool(attrs["admin_state_up"], "admin_state_up")
        if "shared" in attrs:
            net.shared = as_bool(attrs["shared"], "shared")
        if "router:external" in attrs:
            net.external = as_bool(attrs["router:external"], "router:external")
        if "port_security_enabled" in attrs:
            net.port_security_enabled = as_bool(attrs["port_security_enabled"], "port_security_enabled")
        net.revision_number += 1
        session.flush()
        return self.network_view(session, ctx, net)

    def delete_network(self, session: Session, ctx: RequestContext, network_id: str) -> None:
        net = self.get_network_row(session, ctx, network_id)
        self.enforce(ctx, "delete_network", {"project_id": net.project_id})
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

    # ---- subnets -------------------------------------------------------------------

    def subnet_view(self, subnet: Subnet) -> dict[str, Any]:
        # subnet-external-network: whether the subnet is on an external network (everyone sees those).
        session = object_session(subnet)
        net = session.get(Network, subnet.network_id) if session is not None else None
        return {
            "router:external": bool(net and net.external),
            "id": subnet.id, "name": subnet.name, "description": subnet.description,
            "project_id": subnet.project_id, "tenant_id": subnet.project_id, "network_id": subnet.network_id,
            "ip_version": subnet.ip_version, "cidr": subnet.cidr, "gateway_ip": subnet.gateway_ip,
            "enable_dhcp": subnet.enable_dhcp, "allocation_pools": list(subnet.allocation_pools),
            "dns_nameservers": list(subnet.dns_nameservers), "host_routes": list(subnet.host_routes),
            "ipv6_ra_mode": subnet.ipv6_ra_mode, "ipv6_address_mode": subnet.ipv6_address_mode,
            "subnetpool_id": None, "service_types": [], "tags": [],
            "created_at": timestamp(subnet.created_at), "updated_at": timestamp(subnet.updated_at),
            "revision_number": subnet.revision_number,
        }

    def list_subnets(self, session: Session, ctx: RequestContext) -> list[dict[str, Any]]:
        query = select(Subnet).order_by(Subnet.created_at, Subnet.id)
        if not ctx.is_admin:
            visible = select(Network.id).where((Network.project_id == ctx.project_id) | Network.shared | Network.external)
            query = query.where((Subnet.project_id == ctx.project_id) | Subnet.network_id.in_(visible))
        return [self.subnet_view(s) for s in session.scalars(query)]

    def _dns(self, value: Any, version: int) -> list[str]:
        servers = [as_ip(v, "dns_nameservers") for v in as_list(value, "dns_nameservers")]
        if len(servers) > 5:
            raise BadRequest("Number of DNS nameservers exceeds the limit 5.", kind="DNSNameServersExhausted")
        seen: set[str] = set()
        for server in servers:
            if server in seen:
                raise invalid("dns_nameservers", f"Duplicate nameserver '{server}'")
            seen.add(server)
        return servers

    def _routes(self, value: Any, version: int) -> list[dict[str, str]]:
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

    def _gateway(self, net: ipaddress.IPv4Network | ipaddress.IPv6Network, value: Any) -> str | None:
        if value is None:
            return None
        gateway = as_ip(value, "gateway_ip", net.version)
        ip = ipaddress.ip_address(gateway)
        if ip in net and net.version == 4 and net.prefixlen < 31 and ip in (net.network_address, net.broadcast_address):
            raise BadRequest(f"Invalid input for operation: Gateway is not valid on subnet: {gateway} is the "
                             f"{'network' if ip == net.network_address else 'broadcast'} address of {net}.",
                             kind="InvalidInput")
        return gateway

    SUBNET_KEYS = {"name", "description", "network_id", "ip_version", "cidr", "gateway_ip", "enable_dhcp",
                   "allocation_pools", "dns_nameservers", "host_routes", "project_id", "tenant_id",
                   "ipv6_ra_mode", "ipv6_address_mode", "service_types", "subnetpool_id", "prefixlen",
                   "use_default_subnetpool", "segment_id"}

    def create_subnet(self, session: Session, ctx: RequestContext, attrs: dict[str, Any]) -> dict[str, Any]:
        read_only(attrs, {"id", "created_at", "updated_at", "revision_number"}, "POST")
        check_keys(attrs, self.SUBNET_KEYS, "POST")
        for name in ("subnetpool_id", "prefixlen", "use_default_subnetpool", "segment_id"):
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
        net_row = self.get_network_row(session, ctx, as_str(attrs["network_id"], "network_id") or "")
        project = self.owner_of(ctx, attrs)
        self.enforce(ctx, "create_subnet", {"project_id": net_row.project_id})
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
            if mode is not None and (version != 6 or mode not in ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")):
                raise invalid(name, f"'{mode}' is not in ['dhcpv6-stateful', 'dhcpv6-stateless', 'slaac'] "
                                    "or the subnet is not IPv6")
        for other in session.scalars(select(Subnet).where(Subnet.network_id == net_row.id)):
            if ipaddress.ip_network(other.cidr).overlaps(cidr):
                raise invalid_operation(f"Requested subnet with cidr: {cidr} for network: {net_row.id} overlaps "
                                        "with another subnet")
        if "gateway_ip" in attrs:
            gateway = self._gateway(cidr, attrs["gateway_ip"])
        else:
            gateway = str(next(cidr.hosts())) if cidr.num_addresses > 2 else None
        if attrs.get("allocation_pools") is not None:
            pools = ipam.validate_pools(cidr, [as_dict(p, "allocation_pools") for p in
                                               as_list(attrs["allocation_pools"], "allocation_pools")], gateway)
        else:
            pools = ipam.default_pools(cidr, gateway)
        dns = self._dns(attrs.get("dns_nameservers") or [], version)
        routes = self._routes(attrs.get("host_routes") or [], version)
        self.check_quota(session, project, "subnet")
        subnet = Subnet(
            name=as_str(attrs.get("name", ""), "name") or "",
            description=as_str(attrs.get("description", ""), "description") or "",
            project_id=project, network_id=net_row.id, ip_version=version, cidr=str(cidr), gateway_ip=gateway,
            enable_dhcp=as_bool(attrs.get("enable_dhcp", True), "enable_dhcp"), allocation_pools=pools,
            dns_nameservers=dns, host_routes=routes, ipv6_ra_mode=ra_mode, ipv6_address_mode=addr_mode,
        )
        session.add(subnet)
        net_row.revision_number += 1
        session.flush()
        return self.subnet_view(subnet)

    def update_subnet(self, session: Session, ctx: RequestContext, subnet_id: str, attrs: dict[str, Any]) -> dict[str, Any]:
        subnet = self.get_subnet_row(session, ctx, subnet_id)
        read_only(attrs, {"id", "network_id", "ip_version", "cidr", "project_id", "tenant_id", "created_at",
                          "updated_at", "revision_number", "ipv6_ra_mode", "ipv6_address_mode"}, "PUT")
        check_keys(attrs, {"name", "description", "gateway_ip", "enable_dhcp", "allocation_pools",
                           "dns_nameservers", "host_routes", "service_types"}, "PUT")
        self.enforce(ctx, "update_subnet", {"project_id": subnet.project_id})
        cidr = ipaddress.ip_network(subnet.cidr)
        gateway = self._gateway(cidr, attrs["gateway_ip"]) if "gateway_ip" in attrs else subnet.gateway_ip
        if gateway != subnet.gateway_ip and gateway is not None:
            holder = session.scalar(select(IPAllocation).where(IPAllocation.subnet_id == subnet.id,
                                                               IPAllocation.ip_address == gateway))
            if holder is not None:
                raise Conflict(f"Gateway ip {gateway} conflicts with allocation of port {holder.port_id}.",
                               kind="GatewayIpInUse")
        if "allocation_pools" in attrs:
            pools = ipam.validate_pools(cidr, [as_dict(p, "allocation_pools") for p in
                                               as_list(attrs["allocation_pools"], "allocation_pools")], gateway)
        else:
            pools = ipam.validate_pools(cidr, subnet.allocation_pools, gateway)
        subnet.gateway_ip = gateway
        subnet.allocation_pools = pools
        if "name" in attrs:
            subnet.name = as_str(attrs["name"], "name") or ""
        if "description" in attrs:
            subnet.description = as_str(attrs["description"], "description") or ""
        if "enable_dhcp" in attrs:
            subnet.enable_dhcp = as_bool(attrs["enable_dhcp"], "enable_dhcp")
        if "dns_nameservers" in attrs:
            subnet.dns_nameservers = self._dns(attrs["dns_nameservers"] or [], subnet.ip_version)
        if "host_routes" in attrs:
            subnet.host_routes = self._routes(attrs["host_routes"] or [], subnet.ip_version)
        subnet.revision_number += 1
        session.flush()
        return self.subnet_view(subnet)

    def delete_subnet(self, session: Session, ctx: RequestContext, subnet_id: str) -> None:
        subnet = self.get_subnet_row(session, ctx, subnet_id)
        self.enforce(ctx, "delete_subnet", {"project_id": subnet.project_id})
        if session.scalar(select(IPAllocation.id).where(IPAllocation.subnet_id == subnet.id).limit(1)):
            raise Conflict(f"Unable to complete operation on subnet {subnet.id}: One or more ports have an IP "
                           "allocation from this subnet.", kind="SubnetInUse")
        session.delete(subnet)

    # ---- security groups -------------------------------------------------------------

    def rule_view(self, rule: SecurityGroupRule) -> dict[str, Any]:
        return {
            "id": rule.id, "security_group_id": rule.security_group_id, "project_id": rule.project_id,
            "tenant_id": rule.project_id, "direction": rule.direction, "ethertype": rule.ethertype,
            "protocol": rule.protocol, "port_range_min": rule.port_range_min, "port_range_max": rule.port_range_max,
            "remote_ip_prefix": rule.remote_ip_prefix, "remote_group_id": rule.remote_group_id,
            "remote_address_group_id": None, "description": rule.description,
            "created_at": timestamp(rule.created_at), "updated_at": timestamp(rule.updated_at),
            "revision_number": rule.revision_number,
        }

    def sg_view(self, session: Session, sg: SecurityGroup) -> dict[str, Any]:
        rules = session.scalars(select(SecurityGroupRule).where(SecurityGroupRule.security_group_id == sg.id)
                                .order_by(SecurityGroupRule.created_at, SecurityGroupRule.id))
        return {
            "id": sg.id, "name": sg.name, "description": sg.description, "project_id": sg.project_id,
            "tenant_id": sg.project_id, "stateful": sg.stateful, "tags": [],
            "security_group_rules": [self.rule_view(r) for r in rules],
            "created_at": timestamp(sg.created_at), "updated_at": timestamp(sg.updated_at),
            "revision_number": sg.revision_number,
        }

    def ensure_default_sg(self, session: Session, project_id: str | None) -> str | None:
        """The project's `default` group, created on first use: egress open, ingress from itself."""
        if not project_id:
            return None
        row = session.get(DefaultSecurityGroup, project_id)
        if row is not None:
            return row.security_group_id
        try:
            with session.begin_nested():
                sg = SecurityGroup(name="default", description="Default security group", project_id=project_id)
                session.add(sg)
                session.flush()
                session.add(DefaultSecurityGroup(project_id=project_id, security_group_id=sg.id))
                for ethertype in ("IPv4", "IPv6"):
                    session.add(SecurityGroupRule(project_id=project_id, security_group_id=sg.id, direction="egress",
                                                  ethertype=ethertype))
                    session.add(SecurityGroupRule(project_id=project_id, security_group_id=sg.id, direction="ingress",
                                                  ethertype=ethertype, remote_group_id=sg.id))
                session.flush()
            return sg.id
        except IntegrityError:
            # Another request created it first.
            row = session.get(DefaultSecurityGroup, project_id)
            return row.security_group_id if row else None

    def list_security_groups(self, session: Session, ctx: RequestContext) -> list[dict[str, Any]]:
        self.ensure_default_sg(session, ctx.project_id)
        query = select(SecurityGroup).order_by(SecurityGroup.created_at, SecurityGroup.id)
        if not ctx.is_admin:
            query = query.where(SecurityGroup.project_id == ctx.project_id)
        return [self.sg_view(session, sg) for sg in session.scalars(query)]

    def create_security_group(self, session: Session, ctx: RequestContext, attrs: dict[str, Any]) -> dict[str, Any]:
        read_only(attrs, {"id", "security_group_rules", "created_at", "updated_at", "revision_number"}, "POST")
        check_keys(attrs, {"name", "description", "project_id", "tenant_id", "stateful", "shared"}, "POST")
        project = self.owner_of(ctx, attrs)
        self.enforce(ctx, "create_security_group", {"project_id": project})
        name = as_str(attrs.get("name", ""), "name") or ""
        self.ensure_default_sg(session, project)
        if name == "default":
            raise Conflict("Default security group already exists.", kind="SecurityGroupDefaultAlreadyExists")
        if attrs.get("shared"):
            raise invalid_operation("'shared' security groups need RBAC, which gureum does not have yet")
        self.check_quota(session, project, "security_group")
        sg = SecurityGroup(name=name, description=as_str(attrs.get("description", ""), "description") or "",
                           project_id=project, stateful=as_bool(attrs.get("stateful", True), "stateful"))
        session.add(sg)
        session.flush()
        for ethertype in ("IPv4", "IPv6"):
            session.add(SecurityGroupRule(project_id=project, security_group_id=sg.id, direction="egress",
                                          ethertype=ethertype))
        session.flush()
        return self.sg_view(session, sg)

    def update_security_group(self, session: Session, ctx: RequestContext, sg_id: str, attrs: dict[str, Any]) -> dict[str, Any]:
        sg = self.get_sg_row(session, ctx, sg_id)
        read_only(attrs, {"id", "project_id", "tenant_id", "security_group_rules"}, "PUT")
        check_keys(attrs, {"name", "description", "stateful"}, "PUT")
        self.enforce(ctx, "update_security_group", {"project_id": sg.project_id})
        if "name" in attrs:
            name = as_str(attrs["name"], "name") or ""
            is_default = session.get(DefaultSecurityGroup, sg.project_id)
            if is_default and is_default.security_group_id == sg.id and name != "default":
                raise Conflict("Updating default security group not allowed.", kind="SecurityGroupCannotUpdateDefault")
            if name == "default" and sg.name != "default":
                raise Conflict("Default security group already exists.", kind="SecurityGroupDefaultAlreadyExists")
            sg.name = name
        if "description" in attrs:
            sg.description = as_str(attrs["description"], "description") or ""
        if "stateful" in attrs:
            sg.stateful = as_bool(attrs["stateful"], "stateful")
        sg.revision_number += 1
        session.flush()
        return self.sg_view(session, sg)

    def delete_security_group(self, session: Session, ctx: RequestContext, sg_id: str) -> None:
        sg = self.get_sg_row(session, ctx, sg_id)
        self.enforce(ctx, "delete_security_group", {"project_id": sg.project_id})
        default = session.get(DefaultSecurityGroup, sg.project_id)
        if default and default.security_group_id == sg.id and not ctx.is_admin:
            raise Conflict("Removing default security group not allowed.", kind="SecurityGroupCannotRemoveDefault")
        for port in session.scalars(select(Port).where(Port.project_id.is_not(None))):
            if sg.id in (port.security_groups or []):
                raise Conflict(f"Security Group {sg.id} in use.", kind="SecurityGroupInUse")
        if default and default.security_group_id == sg.id:
            session.delete(default)
        for rule in session.scalars(select(SecurityGroupRule).where(SecurityGroupRule.security_group_id == sg.id)):
            session.delete(rule)
        session.flush()
        session.delete(sg)

    def list_rules(self, session: Session, ctx: RequestContext) -> list[dict[str, Any]]:
        self.ensure_default_sg(session, ctx.project_id)
        query = select(SecurityGroupRule).order_by(SecurityGroupRule.created_at, SecurityGroupRule.id)
        if not ctx.is_admin:
            query = query.where(SecurityGroupRule.project_id == ctx.project_id)
        return [self.rule_view(r) for r in session.scalars(query)]

    def get_rule_row(self, session: Session, ctx: RequestContext, rule_id: str) -> SecurityGroupRule:
        rule = session.get(SecurityGroupRule, rule_id) if rule_id else None
        if rule is None or not (ctx.is_admin or rule.project_id == ctx.project_id):
            raise NotFound(f"Security group rule {rule_id} could not be found.", kind="SecurityGroupRuleNotFound")
        return rule

    def _protocol(self, value: Any) -> str | None:
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

    def create_rule(self, session: Session, ctx: RequestContext, attrs: dict[str, Any]) -> dict[str, Any]:
        read_only(attrs, {"id", "created_at", "updated_at", "revision_number"}, "POST")
        check_keys(attrs, {"security_group_id", "direction", "ethertype", "protocol", "port_range_min",
                           "port_range_max", "remote_ip_prefix", "remote_group_id", "description", "project_id",
                           "tenant_id", "remote_address_group_id"}, "POST")
        if "security_group_id" not in attrs:
            raise BadRequest("Failed to parse request. Required attribute 'security_group_id' not specified",
                             kind="HTTPBadRequest")
        if "direction" not in attrs:
            raise BadRequest("Failed to parse request. Required attribute 'direction' not specified",
                             kind="HTTPBadRequest")
        sg = self.get_sg_row(session, ctx, attrs["security_group_id"])
        self.enforce(ctx, "create_security_group_rule", {"project_id": sg.project_id})
        direction = attrs["direction"]
        if direction not in ("ingress", "egress"):
            raise invalid("direction", f"{direction} is not in ['ingress', 'egress']")
        ethertype = attrs.get("ethertype") or "IPv4"
        if ethertype not in ("IPv4", "IPv6"):
            raise invalid("ethertype", f"{ethertype} is not in ['IPv4', 'IPv6']")
        protocol = self._protocol(attrs.get("protocol"))
        if protocol in ("icmp", "1") and ethertype == "IPv6":
            protocol = "ipv6-icmp"
        pmin, pmax = attrs.get("port_range_min"), attrs.get("port_range_max")
        pmin = None if pmin is None else as_int(pmin, "port_range_min")
        pmax = None if pmax is None else as_int(pmax, "port_range_max")
        if pmin is not None or pmax is not None:
            if protocol in PORT_PROTOCOLS:
                if pmin is None or pmax is None:
                    raise BadRequest("For TCP/UDP protocols, port_range_min must be <= port_range_max",
                                     kind="SecurityGroupInvalidPortRange")
                for name, port in (("port_range_min", pmin), ("port_range_max", pmax)):
                    if not 1 <= port <= 65535:
                        raise BadRequest(f"Invalid value for port {port}", kind="SecurityGroupInvalidPortValue")
                if pmin > pmax:
                    raise BadRequest("For TCP/UDP protocols, port_range_min must be <= port_range_max",
                                     kind="SecurityGroupInvalidPortRange")
            elif protocol in ICMP_PROTOCOLS or protocol == "ipv6-icmp":
                if pmin is None and pmax is not None:
                    raise BadRequest("ICMP code (port-range-max) {pmax} is provided but ICMP type (port-range-min) "
                                     "is missing.".replace("{pmax}", str(pmax)), kind="SecurityGroupMissingIcmpType")
                for name, port in (("type", pmin), ("code", pmax)):
                    if port is not None and not 0 <= port <= 255:
                        raise BadRequest(f"Invalid value for ICMP {name} {port}: must be 0 through 255.",
                                         kind="SecurityGroupInvalidIcmpValue")
            else:
                raise BadRequest(f"Invalid protocol {protocol} for port range, only supported for TCP, UDP, UDPLITE, "
                                 "SCTP and DCCP protocols.", kind="SecurityGroupInvalidProtocolForPortRange")
        prefix, remote_group = attrs.get("remote_ip_prefix"), attrs.get("remote_group_id")
        if attrs.get("remote_address_group_id") is not None:
            raise invalid_operation("remote_address_group_id needs address groups, which gureum does not have yet")
        if prefix is not None and remote_group is not None:
            raise BadRequest("Only remote_ip_prefix or remote_group_id may be provided.",
                             kind="SecurityGroupRemoteGroupAndRemoteIpPrefix")
        if prefix is not None:
            try:
                network = ipaddress.ip_network(str(prefix), strict=False)
            except ValueError as exc:
                raise invalid("remote_ip_prefix", f"'{prefix}' is not a valid IP subnet") from exc
            if f"IPv{network.version}" != ethertype:
                raise BadRequest(f"Conflicting value ethertype {ethertype} for CIDR {prefix}",
                                 kind="SecurityGroupRuleParameterConflict")
            prefix = str(network)
        if remote_group is not None:
            self.get_sg_row(session, ctx, remote_group)
        description = as_str(attrs.get("description", ""), "description") or ""
        existing = session.scalars(select(SecurityGroupRule).where(SecurityGroupRule.security_group_id == sg.id))
        for rule in existing:
            if (rule.direction, rule.ethertype, rule.protocol, rule.port_range_min, rule.port_range_max,
                    rule.remote_ip_prefix, rule.remote_group_id) == (direction, ethertype, protocol, pmin, pmax,
                                                                     prefix, remote_group):
                raise Conflict(f"Security group rule already exists. Rule id is {rule.id}.",
                               kind="SecurityGroupRuleExists")
        self.check_quota(session, sg.project_id, "security_group_rule")
        rule = SecurityGroupRule(project_id=sg.project_id, security_group_id=sg.id, direction=direction,
                                 ethertype=ethertype, protocol=protocol, port_range_min=pmin, port_range_max=pmax,
                                 remote_ip_prefix=prefix, remote_group_id=remote_group, description=description)
        session.add(rule)
        sg.revision_number += 1
        session.flush()
        return self.rule_view(rule)

    def delete_rule(self, session: Session, ctx: RequestContext, rule_id: str) -> None:
        rule = self.get_rule_row(session, ctx, rule_id)
        self.enforce(ctx, "delete_security_group_rule", {"project_id": rule.project_id})
        sg = session.get(SecurityGroup, rule.security_group_id)
        if sg is not None:
            sg.revision_number += 1
        session.delete(rule)

    # ---- ports ---------------------------------------------------------------------

    def port_view(self, session: Session, ctx: RequestContext | None, port: Port) -> dict[str, Any]:
        allocations = session.scalars(select(IPAllocation).where(IPAllocation.port_id == port.id)
                                      .order_by(IPAllocation.id))
        view: dict[str, Any] = {
            "id": port.id, "name": port.name, "description": port.description, "network_id": port.network_id,
            "project_id": port.project_id, "tenant_id": port.project_id, "mac_address": port.mac_address,
            "admin_state_up": port.admin_state_up, "status": port.status, "device_id": port.device_id,
            "device_owner": port.device_owner,
            "fixed_ips": [{"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in allocations],
            "security_groups": list(port.security_groups), "port_security_enabled": port.port_security_enabled,
            "allowed_address_pairs": list(port.allowed_address_pairs), "binding:vnic_type": port.binding_vnic_type,
            "tags": [], "created_at": timestamp(port.created_at), "updated_at": timestamp(port.updated_at),
            "revision_number": port.revision_number,
        }
        if ctx is None or self.allowed(ctx, "get_port:binding:host_id", {"project_id": port.project_id}):
            view["binding:host_id"] = port.binding_host_id
            view["binding:vif_type"] = "tap" if port.binding_host_id else "unbound"
            view["binding:vif_details"] = {"port_filter": True} if port.binding_host_id else {}
            view["binding:profile"] = dict(port.binding_profile)
        return view

    def list_ports(self, session: Session, ctx: RequestContext) -> list[dict[str, Any]]:
        query = select(Port).order_by(Port.created_at, Port.id)
        if not ctx.is_admin:
            owned = select(Network.id).where(Network.project_id == ctx.project_id)
            query = query.where((Port.project_id == ctx.project_id) | Port.network_id.in_(owned))
        return [self.port_view(session, ctx, p) for p in session.scalars(query)]

    def _new_mac(self, session: Session) -> str:
        for _ in range(16):
            mac = "fa:16:3e:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))
            if not session.scalar(select(Port.id).where(Port.mac_address == mac)):
                return mac
        raise Conflict("Unable to generate a unique mac address.", kind="MacAddressGenerationFailure")

    def _security_groups(self, session: Session, ctx: RequestContext, value: Any) -> list[str]:
        ids: list[str] = []
        for sg_id in as_list(value, "security_groups"):
            sg = session.get(SecurityGroup, sg_id) if isinstance(sg_id, str) else None
            if sg is None or not (ctx.is_admin or sg.project_id == ctx.project_id):
                raise NotFound(f"Security group {sg_id} does not exist", kind="SecurityGroupNotFound")
            if sg_id not in ids:
                ids.append(sg_id)
        return ids

    def _address_pairs(self, value: Any, mac: str) -> list[dict[str, str]]:
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

    def _fixed_ips(self, session: Session, ctx: RequestContext, port: Port, net: Network,
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
                raise Conflict(f"No more IP addresses available on network {net.id}.",
                               kind="IpAddressGenerationFailure")
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
                if not self.allowed(ctx, "create_port:fixed_ips:ip_address", target):
                    raise policy_error("rule:create_port:fixed_ips:ip_address")
                ipam.allocate_exact(session, port.id, subnet, address,
                                    allow_gateway=port.device_owner.startswith("network:router"))
            else:
                if keep is not None and subnet.id in keep.values():
                    continue
                ipam.allocate_any(session, port.id, subnet)

    PORT_KEYS = {"name", "description", "network_id", "project_id", "tenant_id", "mac_address", "admin_state_up",
                 "device_id", "device_owner", "fixed_ips", "security_groups", "port_security_enabled",
                 "allowed_address_pairs", "binding:host_id", "binding:vnic_type", "binding:profile"}
    PORT_READ_ONLY = {"id", "status", "created_at", "updated_at", "revision_number", "binding:vif_type",
                      "binding:vif_details"}

    def create_port(self, session: Session, ctx: RequestContext, attrs: dict[str, Any]) -> Port:
        read_only(attrs, self.PORT_READ_ONLY, "POST")
        check_keys(attrs, self.PORT_KEYS, "POST")
        if "network_id" not in attrs:
            raise BadRequest("Failed to parse request. Required attribute 'network_id' not specified",
                             kind="HTTPBadRequest")
        net = self.get_network_row(session, ctx, as_str(attrs["network_id"], "network_id") or "")
        project = self.owner_of(ctx, attrs)
        target = {"project_id": project, "network_project_id": net.project_id}
        self.enforce(ctx, "create_port", target)
        if not (ctx.is_admin or net.shared or net.project_id == project):
            raise Forbidden(f"Tenant {project} not allowed to create port on this network",
                            kind="HTTPForbidden")
        device_owner = as_str(attrs.get("device_owner", ""), "device_owner") or ""
        if device_owner.startswith("network:"):
            self.enforce(ctx, "create_port:device_owner", target)
        for name in ("binding:host_id", "binding:profile", "mac_address", "port_security_enabled"):
            if name in attrs and attrs[name] not in (None, "", {}):
                self.enforce(ctx, f"create_port:{name}", target)
        vnic = attrs.get("binding:vnic_type", "normal")
        if vnic != "normal":
            raise invalid("binding:vnic_type", f"'{vnic}' is not supported: gureum ports are 'normal' (a tap device)")
        psec = as_bool(attrs.get("port_security_enabled", net.port_security_enabled), "port_security_enabled")
        self.check_quota(session, project, "port")
        mac = as_mac(attrs["mac_address"]) if attrs.get("mac_address") else self._new_mac(session)
        if session.scalar(select(Port.id).where(Port.network_id == net.id, Port.mac_address == mac)):
            raise Conflict(f"Unable to complete operation for network {net.id}. The mac address {mac} is in use.",
                           kind="MacAddressInUse")
        if attrs.get("security_groups") is not None:
            groups = self._security_groups(session, ctx, attrs["security_groups"])
        elif psec and not device_owner.startswith("network:"):
            default = self.ensure_default_sg(session, project)
            groups = [default] if default else []
        else:
            groups = []
        if groups and not psec:
            raise Conflict("Port has security group associated. Cannot disable port security or ip address until "
                           "security group is removed", kind="PortSecurityPortHasSecurityGroup")
        pairs = self._address_pairs(attrs.get("allowed_address_pairs") or [], mac)
        if pairs and not psec:
            raise Conflict("Port Security must be enabled in order to have allowed address pairs on a port.",
                           kind="AddressPairAndPortSecurityRequired")
        host = as_str(attrs.get("binding:host_id") or "", "binding:host_id") or ""
        port = Port(
            name=as_str(attrs.get("name", ""), "name") or "",
            description=as_str(attrs.get("description", ""), "description") or "",
            project_id=project, network_id=net.id, mac_address=mac,
            admin_state_up=as_bool(attrs.get("admin_state_up", True), "admin_state_up"),
            device_id=as_str(attrs.get("device_id", ""), "device_id") or "", device_owner=device_owner,
            port_security_enabled=psec, security_groups=groups, allowed_address_pairs=pairs,
            binding_host_id=host, binding_vnic_type="normal",
            binding_profile=as_dict(attrs.get("binding:profile") or {}, "binding:profile"),
        )
        session.add(port)
        session.flush()
        fixed = attrs.get("fixed_ips")
        self._fixed_ips(session, ctx, port, net, None if fixed is None else as_list(fixed, "fixed_ips"))
        session.flush()
        return port

    def update_port(self, session: Session, ctx: RequestContext, port_id: str, attrs: dict[str, Any]) -> Port:
        port = self.get_port_row(session, ctx, port_id)
        read_only(attrs, self.PORT_READ_ONLY | {"network_id", "project_id", "tenant_id"}, "PUT")
        check_keys(attrs, self.PORT_KEYS, "PUT")
        net = session.get(Network, port.network_id)
        assert net is not None
        target = {"project_id": port.project_id, "network_project_id": net.project_id}
        self.enforce(ctx, "update_port", target)
        for name in ("binding:host_id", "binding:profile", "mac_address", "port_security_enabled"):
            if name in attrs:
                self.enforce(ctx, f"update_port:{name}", target)
        if "mac_address" in attrs:
            mac = as_mac(attrs["mac_address"])
            if mac != port.mac_address:
                if port.binding_host_id:
                    raise Conflict(f"Unable to complete operation on port {port.id} for network {net.id}. "
                                   "Port already has an attached device.", kind="PortBound")
                if session.scalar(select(Port.id).where(Port.network_id == net.id, Port.mac_address == mac)):
                    raise Conflict(f"Unable to complete operation for network {net.id}. The mac address {mac} is "
                                   "in use.", kind="MacAddressInUse")
                port.mac_address = mac
        for name, column in (("name", "name"), ("description", "description"), ("device_id", "device_id"),
                             ("device_owner", "device_owner")):
            if name in attrs:
                setattr(port, column, as_str(attrs[name] or "", name) or "")
        if "admin_state_up" in attrs:
            port.admin_state_up = as_bool(attrs["admin_state_up"], "admin_state_up")
        if "binding:host_id" in attrs:
            port.binding_host_id = as_str(attrs["binding:host_id"] or "", "binding:host_id") or ""
            if not port.binding_host_id:
                port.status = "DOWN"
        if "binding:profile" in attrs:
            port.binding_profile = as_dict(attrs["binding:profile"] or {}, "binding:profile")
        if "binding:vnic_type" in attrs and attrs["binding:vnic_type"] != "normal":
            raise invalid("binding:vnic_type", f"'{attrs['binding:vnic_type']}' is not supported")
        if "port_security_enabled" in attrs:
            port.port_security_enabled = as_bool(attrs["port_security_enabled"], "port_security_enabled")
        if "security_groups" in attrs:
            port.security_groups = self._security_groups(session, ctx, attrs["security_groups"] or [])
        if "allowed_address_pairs" in attrs:
            port.allowed_address_pairs = self._address_pairs(attrs["allowed_address_pairs"] or [], port.mac_address)
        if not port.port_security_enabled:
            if port.security_groups:
                raise Conflict("Port has security group associated. Cannot disable port security or ip address "
                               "until security group is removed", kind="PortSecurityPortHasSecurityGroup")
            if port.allowed_address_pairs:
                raise Conflict("Port Security must be enabled in order to have allowed address pairs on a port.",
                               kind="AddressPairAndPortSecurityRequired")
        if "fixed_ips" in attrs:
            requested = as_list(attrs["fixed_ips"] or [], "fixed_ips")
            current = {a.ip_address: a.subnet_id for a in
                       session.scalars(select(IPAllocation).where(IPAllocation.port_id == port.id))}
            wanted_ips = {e.get("ip_address") for e in requested if isinstance(e, dict)}
            wanted_subnets_any = {e.get("subnet_id") for e in requested
                                  if isinstance(e, dict) and e.get("ip_address") is None}
            keep = {ip: sid for ip, sid in current.items() if ip in wanted_ips or sid in wanted_subnets_any}
            for alloc in session.scalars(select(IPAllocation).where(IPAllocation.port_id == port.id)):
                if alloc.ip_address not in keep:
                    session.delete(alloc)
            session.flush()
            self._fixed_ips(session, ctx, port, net, requested, keep=keep)
            # A floating IP whose inside address the port lost is no longer associated (as in neutron).
            disassociate_port(session, port.id, keep_addresses={
                a.ip_address for a in session.scalars(select(IPAllocation).where(IPAllocation.port_id == port.id))})
        port.revision_number += 1
        session.flush()
        return port

    def delete_port(self, session: Session, ctx: RequestContext, port_id: str) -> None:
        port = self.get_port_row(session, ctx, port_id)
        self.enforce(ctx, "delete_port", {"project_id": port.project_id})
        if port.device_owner in SERVICE_PORT_OWNERS:
            raise Conflict(f"Port {port.id} cannot be deleted directly via the port API: has device owner "
                           f"{port.device_owner}.", kind="ServicePortInUse")
        disassociate_port(session, port.id)
        for alloc in session.scalars(select(IPAllocation).where(IPAllocation.port_id == port.id)):
            session.delete(alloc)
        session.flush()
        session.delete(port)

    # ---- for the compute service ------------------------------------------------------

    def has_addresses(self, session: Session, port: Port) -> bool:
        return session.scalar(select(IPAllocation.id).where(IPAllocation.port_id == port.id).limit(1)) is not None

    def find_security_group(self, session: Session, ctx: RequestContext, ref: str) -> SecurityGroup:
        """A group by id, or by name in the caller's project, as nova looks one up in neutron.

        `default` is the project's default group (made on first use). Unknown: NotFound;
        a name two groups share: Conflict (nova's NoUniqueMatch).
        """
        sg = session.get(SecurityGroup, ref)
        if sg is not None and (ctx.is_admin or sg.project_id == ctx.project_id):
            return sg
        if ref == "default":
            default = self.ensure_default_sg(session, ctx.project_id)
            sg = session.get(SecurityGroup, default) if default else None
        else:
            matches = list(session.scalars(select(SecurityGroup).where(
                SecurityGroup.name == ref, SecurityGroup.project_id == ctx.project_id)))
            if len(matches) > 1:
                raise Conflict(f"Multiple security groups named {ref}: use an id.", kind="NoUniqueMatch")
            sg = matches[0] if matches else None
        if sg is None:
            raise NotFound(f"Security group {ref} not found.", kind="SecurityGroupNotFound")
        return sg

    def allocate_ports_for_server(self, session: Session, ctx: RequestContext, server_uuid: str,
                                  requested_networks: Iterable[dict[str, Any]], security_groups: Iterable[str],
                                  host: str) -> list[Port]:
        """Ports for a new server, as nova asks neutron for them.

        `requested_networks` holds nova's entries: {"uuid": network id, "fixed_ip": optional} or
        {"port": existing port id}. Security groups are names or ids of the caller's project.
        Existing ports are bound to the server; new ones are created. Everything happens in the
        caller's session, so a failure leaves nothing behind.
        """
        groups: list[str] = []
        for ref in security_groups:
            sg = self.find_security_group(session, ctx, ref)
            if sg.id not in groups:
                groups.append(sg.id)
        ports: list[Port] = []
        for entry in requested_networks:
            if entry.get("port"):
                port = self.get_port_row(session, ctx, entry["port"])
                if port.device_id and port.device_id != server_uuid:
                    raise Conflict(f"Port {port.id} is still in use.", kind="PortInUse")
            else:
                attrs: dict[str, Any] = {"network_id": entry["uuid"], "device_owner": "compute:nova"}
                if entry.get("fixed_ip"):
                    attrs["fixed_ips"] = [{"ip_address": entry["fixed_ip"]}]
                if groups:
                    attrs["security_groups"] = groups
                port = self.create_port(session, ctx, attrs)
                port.auto_delete = True
            port.device_id = server_uuid
            port.device_owner = port.device_owner or "compute:nova"
            port.binding_host_id = host
            port.revision_number += 1
            ports.append(port)
        session.flush()
        return ports

    def release_ports_for_server(self, session: Session, server_uuid: str) -> None:
        """Delete the ports a server create made; unbind the ones the user brought."""
        for port in session.scalars(select(Port).where(Port.device_id == server_uuid)):
            disassociate_port(session, port.id)
            if port.auto_delete:
                for alloc in session.scalars(select(IPAllocation).where(IPAllocation.port_id == port.id)):
                    session.delete(alloc)
                session.flush()
                session.delete(port)
            else:
                port.device_id = ""
                port.binding_host_id = ""
                port.status = "DOWN"
                port.revision_number += 1
        session.flush()


_lock = threading.Lock()


def network_service(cloud: "Cloud") -> NetworkService:
    """The cloud's network service: `cloud.network` once the lead wires it, else made on first use."""
    service = getattr(cloud, "network", None)
    if isinstance(service, NetworkService):
        return service
    with _lock:
        service = getattr(cloud, "network", None)
        if not isinstance(service, NetworkService):
            service = NetworkService(cloud)
            cloud.network = service  # type: ignore[attr-defined]
    return service
