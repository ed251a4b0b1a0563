"""/v2.0/routers: CRUD, interfaces, extra routes, and the L3 agent hosting a router."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.network.api.common import crud_routes, list_query, render_list, service
from gureum.network.routers import ROUTER


@endpoint(json_body=True)
def add_router_interface(req: ApiRequest) -> Any:
    """Attach a subnet (through its gateway address) or a port to the router."""
    return service(req).router_interface(req.context, req.path["router_id"], req.body, adding=True)


@endpoint(json_body=True)
def remove_router_interface(req: ApiRequest) -> Any:
    """Detach a subnet or port from the router; its port is deleted."""
    return service(req).router_interface(req.context, req.path["router_id"], req.body, adding=False)


@endpoint(json_body=True)
def add_extraroutes(req: ApiRequest) -> Any:
    """Add routes to the router's list (extraroute-atomic)."""
    return {"router": service(req).router_routes(req.context, req.path["router_id"], req.body, adding=True)}


@endpoint(json_body=True)
def remove_extraroutes(req: ApiRequest) -> Any:
    """Remove routes from the router's list (extraroute-atomic)."""
    return {"router": service(req).router_routes(req.context, req.path["router_id"], req.body, adding=False)}


@endpoint()
def list_l3_agents(req: ApiRequest) -> Any:
    """The L3 agent of the host that builds the router (admin)."""
    items, page = service(req).l3_agents_of_router(req.context, req.path["router_id"], list_query(req))
    return render_list(req, "agents", items, page)


def routes() -> list[BaseRoute]:
    member = "/v2.0/routers/{router_id}"
    return [
        *crud_routes("/v2.0/routers", ROUTER, "routers", "router_id"),
        Route(member + "/add_router_interface", add_router_interface, methods=["PUT"]),
        Route(member + "/remove_router_interface", remove_router_interface, methods=["PUT"]),
        Route(member + "/add_extraroutes", add_extraroutes, methods=["PUT"]),
        Route(member + "/remove_extraroutes", remove_extraroutes, methods=["PUT"]),
        Route(member + "/l3-agents", list_l3_agents, methods=["GET"]),
    ]
