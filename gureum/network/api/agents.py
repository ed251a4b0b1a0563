"""/v2.0/agents: the network agents of each host, and the routers an L3 agent hosts."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.network import agents, routers
from gureum.network.api.common import body_of, filtered, in_session, only_fields


@endpoint()
def list_agents(req: ApiRequest) -> Any:
    """List network agents (admin; others get an empty list)."""
    return filtered(req, in_session(req, lambda s, svc: agents.list_agents(svc, s, req.context)), "agents")


@endpoint()
def show_agent(req: ApiRequest) -> Any:
    """Show a network agent."""
    def work(s: Any, svc: Any) -> Any:
        return agents.agent_view(s, agents.get_agent(svc, s, req.context, req.path["agent_id"]))
    return {"agent": only_fields(req, in_session(req, work))}


@endpoint(json_body=True)
def update_agent(req: ApiRequest) -> Any:
    """Set an agent's admin_state_up or description."""
    attrs = body_of(req, "agent")
    return {"agent": in_session(req, lambda s, svc: agents.update_agent(svc, s, req.context,
                                                                         req.path["agent_id"], attrs))}


@endpoint(status=204)
def delete_agent(req: ApiRequest) -> None:
    """Forget an agent until its host reports again."""
    in_session(req, lambda s, svc: agents.delete_agent(svc, s, req.context, req.path["agent_id"]))


@endpoint()
def list_l3_routers(req: ApiRequest) -> Any:
    """The routers an L3 agent hosts."""
    def work(s: Any, svc: Any) -> Any:
        rows = agents.routers_of_l3_agent(svc, s, req.context, req.path["agent_id"])
        return [routers.router_view(s, r) for r in rows]
    return filtered(req, in_session(req, work), "routers")


def routes() -> list[BaseRoute]:
    return [
        Route("/v2.0/agents", list_agents, methods=["GET"]),
        Route("/v2.0/agents/{agent_id}", show_agent, methods=["GET"]),
        Route("/v2.0/agents/{agent_id}", update_agent, methods=["PUT"]),
        Route("/v2.0/agents/{agent_id}", delete_agent, methods=["DELETE"]),
        Route("/v2.0/agents/{agent_id}/l3-routers", list_l3_routers, methods=["GET"]),
    ]
