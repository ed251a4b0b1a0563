"""/v2.0/agents: the network agents of each host, and the routers an L3 agent hosts."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.network.api.common import body_of, list_query, only_fields, render_list, service


@endpoint()
def list_agents(req: ApiRequest) -> Any:
    """List network agents (admin; others get an empty list)."""
    return render_list(req, "agents", *service(req).list_agents(req.context, list_query(req)))


@endpoint()
def show_agent(req: ApiRequest) -> Any:
    """Show a network agent."""
    return {"agent": only_fields(req, service(req).show_agent(req.context, req.path["agent_id"]))}


@endpoint(json_body=True)
def update_agent(req: ApiRequest) -> Any:
    """Set an agent's admin_state_up or description."""
    return {"agent": service(req).update_agent(req.context, req.path["agent_id"], body_of(req, "agent"))}


@endpoint(status=204)
def delete_agent(req: ApiRequest) -> None:
    """Forget an agent until its host reports again."""
    service(req).delete_agent(req.context, req.path["agent_id"])


@endpoint()
def list_l3_routers(req: ApiRequest) -> Any:
    """The routers an L3 agent hosts."""
    return render_list(req, "routers", *service(req).routers_of_l3_agent(req.context, req.path["agent_id"],
                                                                         list_query(req)))


def routes() -> list[BaseRoute]:
    return [
        Route("/v2.0/agents", list_agents, methods=["GET"]),
        Route("/v2.0/agents/{agent_id}", show_agent, methods=["GET"]),
        Route("/v2.0/agents/{agent_id}", update_agent, methods=["PUT"]),
        Route("/v2.0/agents/{agent_id}", delete_agent, methods=["DELETE"]),
        Route("/v2.0/agents/{agent_id}/l3-routers", list_l3_routers, methods=["GET"]),
    ]
