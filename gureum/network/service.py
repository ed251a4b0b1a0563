"""The network service: one entry point for the API and for the other services (no HTTP here).

The resources live in their own modules (networks, subnets, ports, security groups
and their rules, quotas, routers, floating IPs, agents), each a set of functions
`fn(svc, session, ctx, ...)` with its attribute table. This class owns what they
share (policy, ownership, the revision that wakes the agents) and the transactions:
the API calls `list`/`show`/`create`/`update`/`delete` with a resource name, or one
of the named actions below, and each opens its session here. Compute calls the
session-taking methods at the end (`allocate_ports_for_server`, ...), which join
its own transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from gureum.db.revision import RevisionWatch
from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest, Forbidden
from gureum.network import (
    agents, floating_ips, guest_network_data, networks, ports, quotas, router_interfaces, routers,
    security_group_rules, security_groups, server_ports, subnets, views,
)
from gureum.network.common import as_str, invalid_operation
from gureum.network.listing import ListQuery, Page, filter_views
from gureum.network.models import Network, Port, SecurityGroup, Subnet
from gureum.network.policies import NETWORK_POLICIES
from gureum.network.revision import watch_network_changes

if TYPE_CHECKING:
    from gureum.cloud import Cloud

# Kept importable from here (older callers).
DEFAULT_QUOTAS = quotas.DEFAULT_QUOTAS
vni_range_from_env = networks.vni_range_from_env


def policy_error(action: str) -> Forbidden:
    return Forbidden(f"({action}) is disallowed by policy", kind="PolicyNotAuthorized")


@dataclass(frozen=True)
class Operations:
    """What the API may do to one resource; `reads` lists run in a read-only session."""

    list: Callable[..., tuple[list[dict[str, Any]], Page]]
    show: Callable[..., dict[str, Any]]
    create: Callable[..., dict[str, Any]]
    update: Callable[..., dict[str, Any]] | None
    delete: Callable[..., None]
    reads: bool = True


OPERATIONS: dict[str, Operations] = {
    "network": Operations(networks.list_networks, networks.show_network, networks.create_network,
                          networks.update_network, networks.delete_network),
    "subnet": Operations(subnets.list_subnets, subnets.show_subnet, subnets.create_subnet, subnets.update_subnet,
                         subnets.delete_subnet),
    "port": Operations(ports.list_ports, ports.show_port, ports.create_port, ports.update_port, ports.delete_port),
    # Listing groups or rules makes the caller's default group on first use: a write.
    "security_group": Operations(security_groups.list_security_groups, security_groups.show_security_group,
                                 security_groups.create_security_group, security_groups.update_security_group,
                                 security_groups.delete_security_group, reads=False),
    "security_group_rule": Operations(security_group_rules.list_rules, security_group_rules.show_rule,
                                      security_group_rules.create_rule, None, security_group_rules.delete_rule,
                                      reads=False),
    "router": Operations(routers.list_routers, routers.show_router, routers.create_router, routers.update_router,
                         routers.delete_router),
    "floatingip": Operations(floating_ips.list_floating_ips, floating_ips.show_floating_ip,
                             floating_ips.create_floating_ip, floating_ips.update_floating_ip,
                             floating_ips.delete_floating_ip),
}


class NetworkService:
    def __init__(self, cloud: "Cloud") -> None:
        self.cloud = cloud
        self.vni_range = networks.vni_range_from_env()
        cloud.policy.register_defaults(NETWORK_POLICIES)
        self.revision = RevisionWatch(cloud.db, "network")
        watch_network_changes(cloud.db.write_factory, self.revision, self._wake_agents)

    def start(self) -> None:
        self.revision.ensure_row()

    def _wake_agents(self) -> None:
        compute = getattr(self.cloud, "compute", None)
        if compute is not None:
            compute.signals.notify_all()

    # ---- the API's entry points: each owns its transaction ----------------------------

    def list(self, ctx: RequestContext, resource: str, wanted: ListQuery) -> tuple[list[dict[str, Any]], Page]:
        ops = OPERATIONS[resource]
        with (self.cloud.db.read() if ops.reads else self.cloud.db.session()) as session:
            return ops.list(self, session, ctx, wanted)

    def show(self, ctx: RequestContext, resource: str, resource_id: str) -> dict[str, Any]:
        with self.cloud.db.read() as session:
            return OPERATIONS[resource].show(self, session, ctx, resource_id)

    def create(self, ctx: RequestContext, resource: str, attrs: dict[str, Any]) -> dict[str, Any]:
        with self.cloud.db.session() as session:
            return OPERATIONS[resource].create(self, session, ctx, attrs)

    def create_many(self, ctx: RequestContext, resource: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Neutron's bulk create: all in one transaction, so the first bad item leaves none behind."""
        create = OPERATIONS[resource].create
        with self.cloud.db.session() as session:
            return [create(self, session, ctx, attrs) for attrs in items]

    def update(self, ctx: RequestContext, resource: str, resource_id: str, attrs: dict[str, Any]) -> dict[str, Any]:
        update = OPERATIONS[resource].update
        assert update is not None, f"{resource} has no update"
        with self.cloud.db.session() as session:
            return update(self, session, ctx, resource_id, attrs)

    def delete(self, ctx: RequestContext, resource: str, resource_id: str) -> None:
        with self.cloud.db.session() as session:
            OPERATIONS[resource].delete(self, session, ctx, resource_id)

    def router_interface(self, ctx: RequestContext, router_id: str, body: Any, adding: bool) -> dict[str, Any]:
        change = router_interfaces.add_interface if adding else router_interfaces.remove_interface
        with self.cloud.db.session() as session:
            return change(self, session, ctx, router_id, body)

    def router_routes(self, ctx: RequestContext, router_id: str, body: Any, adding: bool) -> dict[str, Any]:
        with self.cloud.db.session() as session:
            return routers.change_routes(self, session, ctx, router_id, body, adding=adding)

    def l3_agents_of_router(self, ctx: RequestContext, router_id: str,
                            wanted: ListQuery) -> tuple[list[dict[str, Any]], Page]:
        with self.cloud.db.read() as session:
            router = routers.get_router_row(session, ctx, router_id)
            return filter_views(agents.l3_agents_of_router(self, session, ctx, router), wanted)

    def routers_of_l3_agent(self, ctx: RequestContext, agent_id: str,
                            wanted: ListQuery) -> tuple[list[dict[str, Any]], Page]:
        with self.cloud.db.read() as session:
            rows = agents.routers_of_l3_agent(self, session, ctx, agent_id)
            return filter_views(routers.router_views(session, rows), wanted)

    def list_agents(self, ctx: RequestContext, wanted: ListQuery) -> tuple[list[dict[str, Any]], Page]:
        with self.cloud.db.read() as session:
            return filter_views(agents.list_agents(self, session, ctx), wanted)

    def show_agent(self, ctx: RequestContext, agent_id: str) -> dict[str, Any]:
        with self.cloud.db.read() as session:
            return agents.agent_view(session, agents.get_agent(self, session, ctx, agent_id))

    def update_agent(self, ctx: RequestContext, agent_id: str, attrs: dict[str, Any]) -> dict[str, Any]:
        with self.cloud.db.session() as session:
            return agents.update_agent(self, session, ctx, agent_id, attrs)

    def delete_agent(self, ctx: RequestContext, agent_id: str) -> None:
        with self.cloud.db.session() as session:
            agents.delete_agent(self, session, ctx, agent_id)

    def quotas(self, ctx: RequestContext, action: str, project_id: str, values: dict[str, Any] | None = None) -> Any:
        """Neutron's quota API: action is list, show, details, defaults, update or delete."""
        with (self.cloud.db.session() if action in ("update", "delete") else self.cloud.db.read()) as session:
            if action == "list":
                return quotas.list_quotas(self, session, ctx)
            if action == "show":
                return quotas.show_quota(self, session, ctx, project_id)
            if action == "details":
                return quotas.quota_details(self, session, ctx, project_id)
            if action == "defaults":
                return quotas.quota_defaults(self, ctx, project_id)
            if action == "update":
                return quotas.update_quota(self, session, ctx, project_id, values or {})
            quotas.delete_quota(self, session, ctx, project_id)
            return None

    # ---- what the resource modules share ----------------------------------------------

    def allowed(self, ctx: RequestContext, action: str, target: dict[str, Any]) -> bool:
        return self.cloud.policy.authorize(ctx, action, target)

    def enforce(self, ctx: RequestContext, action: str, target: dict[str, Any]) -> None:
        if not self.allowed(ctx, action, target):
            raise policy_error(f"rule:{action}")

    policy_error = staticmethod(policy_error)

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
        return networks.can_see(ctx, net)

    def get_network_row(self, session: Session, ctx: RequestContext, network_id: str) -> Network:
        return networks.get_network_row(session, ctx, network_id)

    def get_subnet_row(self, session: Session, ctx: RequestContext, subnet_id: str) -> Subnet:
        return subnets.get_subnet_row(session, ctx, subnet_id)

    def get_port_row(self, session: Session, ctx: RequestContext, port_id: str) -> Port:
        return ports.get_port_row(session, ctx, port_id)

    def get_sg_row(self, session: Session, ctx: RequestContext, sg_id: str) -> SecurityGroup:
        return security_groups.get_sg_row(session, ctx, sg_id)

    def check_quota(self, session: Session, project_id: str, resource: str, adding: int = 1) -> None:
        quotas.check_quota(session, project_id, resource, adding)

    def quota_limits(self, session: Session, project_id: str) -> dict[str, int]:
        return quotas.quota_limits(session, project_id)

    def quota_usage(self, session: Session, project_id: str) -> dict[str, int]:
        return quotas.quota_usage(session, project_id)

    def ensure_default_sg(self, session: Session, project_id: str | None) -> str | None:
        return security_groups.ensure_default_sg(session, project_id)

    def new_mac(self, session: Session) -> str:
        return ports.new_mac(session)

    def allocate_fixed_ips(self, session: Session, ctx: RequestContext, port: Port, net: Network,
                           requested: list[Any] | None) -> None:
        ports.allocate_fixed_ips(self, session, ctx, port, net, requested)

    # ---- for the compute service (in its session) -------------------------------------

    def _new_mac(self, session: Session) -> str:
        """Compute still asks for a DHCP port's MAC under this name (the hosts move retires it)."""
        return ports.new_mac(session)

    def has_addresses(self, session: Session, port: Port) -> bool:
        return server_ports.has_addresses(session, port)

    def find_security_group(self, session: Session, ctx: RequestContext, ref: str) -> SecurityGroup:
        return security_groups.find_security_group(session, ctx, ref)

    def sg_view(self, session: Session, sg: SecurityGroup) -> dict[str, Any]:
        return views.security_groups(session, [sg])[0]

    def update_port(self, session: Session, ctx: RequestContext, port_id: str, attrs: dict[str, Any]) -> Port:
        return ports.update_port_row(self, session, ctx, port_id, attrs)

    def allocate_ports_for_server(self, session: Session, ctx: RequestContext, server_uuid: str,
                                  requested_networks: Iterable[dict[str, Any]], security_groups: Iterable[str],
                                  host: str) -> list[Port]:
        return server_ports.allocate_ports_for_server(self, session, ctx, server_uuid, requested_networks,
                                                      security_groups, host)

    def release_ports_for_server(self, session: Session, server_uuid: str) -> None:
        server_ports.release_ports_for_server(session, server_uuid)

    def guest_network_data(self, session: Session, ports_by_guest: dict[str, list[Port]]) -> dict[str, dict[str, Any]]:
        """Nova's network_data.json for each guest, from its ports in NIC order."""
        return guest_network_data.network_data(session, ports_by_guest)


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
