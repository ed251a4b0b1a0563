"""Network agents (neutron's agent extension), derived from the compute hosts.

gureum has one agent program per node; it does what neutron's Linux bridge, DHCP,
L3 and metadata agents do. Each registered host therefore shows those four agents,
with ids stable across restarts (uuid5 of the host's uuid and the agent type) and
alive when the host's agent heartbeats (gureum/compute/hosts.py is_up). What an
operator sets (admin_state_up, description, a delete) is kept in NetworkAgent rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gureum.compute.hosts import is_up
from gureum.compute.models import Host
from gureum.db.base import utcnow
from gureum.http.context import RequestContext
from gureum.http.errors import NotFound
from gureum.network.common import as_bool, as_str, check_keys, read_only
from gureum.network.models import FloatingIP, Network, NetworkAgent, Port, Router

if TYPE_CHECKING:
    from gureum.network.service import NetworkService

L2_AGENT = "Linux bridge agent"
DHCP_AGENT = "DHCP agent"
L3_AGENT = "L3 agent"
METADATA_AGENT = "Metadata agent"


@dataclass(frozen=True)
class AgentKind:
    agent_type: str
    binary: str
    topic: str
    # DHCP and L3 agents have an availability zone in neutron; the others show null.
    zoned: bool


KINDS: tuple[AgentKind, ...] = (
    AgentKind(L2_AGENT, "neutron-linuxbridge-agent", "N/A", False),
    AgentKind(DHCP_AGENT, "neutron-dhcp-agent", "dhcp_agent", True),
    AgentKind(L3_AGENT, "neutron-l3-agent", "l3_agent", True),
    AgentKind(METADATA_AGENT, "neutron-metadata-agent", "N/A", False),
)
AGENT_NAMESPACE = uuid.UUID("0b6a4bde-5f0c-4f39-9a59-6d1f3c1f8e21")


def agent_id(host_uuid: str, agent_type: str) -> str:
    return str(uuid.uuid5(AGENT_NAMESPACE, f"{host_uuid}/{agent_type}"))


def _agent_time(value: datetime | None) -> str | None:
    # Neutron shows agent times as 'YYYY-MM-DD HH:MM:SS' (UTC, no zone).
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else None


def _configurations(session: Session, host: Host, kind: AgentKind) -> dict[str, Any]:
    if kind.agent_type == L2_AGENT:
        devices = session.scalar(select(func.count()).select_from(Port).where(
            Port.binding_host_id == host.hostname)) or 0
        return {"bridge_mappings": dict(host.bridge_mappings), "interface_mappings": {},
                "tunnel_types": ["vxlan"], "tunneling_ip": host.host_ip, "l2_population": False,
                "devices": devices}
    if kind.agent_type == DHCP_AGENT:
        networks = session.scalar(select(func.count()).select_from(Network)) or 0
        return {"dhcp_driver": "dnsmasq", "dhcp_lease_duration": 86400, "networks": networks,
                "notes": ["every host serves DHCP to its own ports"]}
    if kind.agent_type == L3_AGENT:
        routers = select(Router.id).where(Router.host == host.hostname)
        return {"agent_mode": "legacy",
                "routers": session.scalar(select(func.count()).select_from(Router)
                                          .where(Router.host == host.hostname)) or 0,
                "floating_ips": session.scalar(select(func.count()).select_from(FloatingIP)
                                               .where(FloatingIP.router_id.in_(routers))) or 0,
                "external_network_bridge": "", "gateway_external_network_id": ""}
    return {"metadata_proxy_socket": "", "nova_metadata_host": "169.254.169.254", "log_agent_heartbeats": False}


@dataclass
class Agent:
    id: str
    host: Host
    kind: AgentKind
    state: NetworkAgent | None


def _hidden(agent: Agent) -> bool:
    """Deleted, and the host has not reported since."""
    state = agent.state
    if state is None or state.deleted_at is None:
        return False
    seen = agent.host.last_seen_at
    return seen is None or _aware(seen) <= _aware(state.deleted_at)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def all_agents(session: Session) -> list[Agent]:
    hosts = list(session.scalars(select(Host).order_by(Host.hostname)))
    states = {s.id: s for s in session.scalars(select(NetworkAgent))}
    agents = []
    for host in hosts:
        for kind in KINDS:
            aid = agent_id(host.uuid, kind.agent_type)
            agent = Agent(aid, host, kind, states.get(aid))
            if not _hidden(agent):
                agents.append(agent)
    return agents


def agent_view(session: Session, agent: Agent) -> dict[str, Any]:
    host, kind, state = agent.host, agent.kind, agent.state
    return {
        "id": agent.id, "agent_type": kind.agent_type, "binary": kind.binary, "topic": kind.topic,
        "host": host.hostname, "admin_state_up": state.admin_state_up if state else True,
        "alive": is_up(host), "availability_zone": host.availability_zone if kind.zoned else None,
        "configurations": _configurations(session, host, kind),
        "created_at": _agent_time(host.created_at), "started_at": _agent_time(host.created_at),
        "heartbeat_timestamp": _agent_time(host.last_seen_at),
        "description": state.description if state else "",
        "resources_synced": None,
    }


def list_agents(svc: NetworkService, session: Session, ctx: RequestContext) -> list[dict[str, Any]]:
    # Neutron filters the list by policy: a non-admin gets an empty list, not a 403.
    if not svc.allowed(ctx, "get_agent", {"project_id": ctx.project_id}):
        return []
    return [agent_view(session, a) for a in all_agents(session)]


def get_agent(svc: NetworkService, session: Session, ctx: RequestContext, aid: str) -> Agent:
    svc.enforce(ctx, "get_agent", {"project_id": ctx.project_id})
    agent = next((a for a in all_agents(session) if a.id == aid), None)
    if agent is None:
        raise NotFound(f"Agent {aid} could not be found.", kind="AgentNotFound")
    return agent


def _state_row(session: Session, agent: Agent) -> NetworkAgent:
    if agent.state is None:
        agent.state = NetworkAgent(id=agent.id, admin_state_up=True, description="")
        session.add(agent.state)
    return agent.state


def update_agent(svc: NetworkService, session: Session, ctx: RequestContext, aid: str,
                 attrs: dict[str, Any]) -> dict[str, Any]:
    agent = get_agent(svc, session, ctx, aid)
    svc.enforce(ctx, "update_agent", {"project_id": ctx.project_id})
    read_only(attrs, {"id", "agent_type", "binary", "topic", "host", "alive", "configurations", "created_at",
                      "started_at", "heartbeat_timestamp", "availability_zone", "resources_synced"}, "PUT")
    check_keys(attrs, {"admin_state_up", "description"}, "PUT")
    state = _state_row(session, agent)
    if "admin_state_up" in attrs:
        state.admin_state_up = as_bool(attrs["admin_state_up"], "admin_state_up")
    if "description" in attrs:
        state.description = as_str(attrs["description"] or "", "description") or ""
    session.flush()
    return agent_view(session, agent)


def delete_agent(svc: NetworkService, session: Session, ctx: RequestContext, aid: str) -> None:
    agent = get_agent(svc, session, ctx, aid)
    svc.enforce(ctx, "delete_agent", {"project_id": ctx.project_id})
    state = _state_row(session, agent)
    state.deleted_at = utcnow()
    session.flush()


def agent_admin_up(session: Session, host: Host, agent_type: str = L3_AGENT) -> bool:
    """Whether an operator left this host's agent of that type enabled (for placing routers)."""
    state = session.get(NetworkAgent, agent_id(host.uuid, agent_type))
    return state is None or state.admin_state_up


def l3_agents_of_router(svc: NetworkService, session: Session, ctx: RequestContext,
                        router: Router) -> list[dict[str, Any]]:
    svc.enforce(ctx, "get_l3-agents", {"project_id": router.project_id})
    return [agent_view(session, a) for a in all_agents(session)
            if a.kind.agent_type == L3_AGENT and router.host and a.host.hostname == router.host]


def routers_of_l3_agent(svc: NetworkService, session: Session, ctx: RequestContext, aid: str) -> list[Router]:
    agent = get_agent(svc, session, ctx, aid)
    svc.enforce(ctx, "get_l3-routers", {"project_id": ctx.project_id})
    if agent.kind.agent_type != L3_AGENT:
        return []
    return list(session.scalars(select(Router).where(Router.host == agent.host.hostname)
                                .order_by(Router.created_at, Router.id)))
