"""/v2.0/routers: CRUD, interfaces, extra routes, and the L3 agent hosting a router."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.network import agents, routers
from gureum.network.api.common import body_of, filtered, in_session, only_fields


@endpoint()
def list_routers(req: ApiRequest) -> Any:
    """List routers."""
    return filtered(req, in_session(req, lambda s, svc: routers.list_routers(s, req.context)), "routers")


@endpoint(json_body=True, status=201)
def create_router(req: ApiRequest) -> Any:
    """Create a router."""
    attrs = body_of(req, "router")
    return {"router": in_session(req, lambda s, svc: routers.create_router(svc, s, req.context, attrs))}


@endpoint()
def show_router(req: ApiRequest) -> Any:
    """Show a router."""
    def work(s: Any, svc: Any) -> Any:
        router = routers.get_router_row(s, req.context, req.path["router_id"])
        svc.enforce(req.context, "get_router", {"project_id": router.project_id})
        return routers.router_view(s, router)
    return {"router": only_fields(req, in_session(req, work))}


@endpoint(json_body=True)
def update_router(req: ApiRequest) -> Any:
    """Update a router: name, admin state, external gateway, routes."""
    attrs = body_of(req, "router")
    return {"router": in_session(
        req, lambda s, svc: routers.update_router(svc, s, req.context, req.path["router_id"], attrs))}


@endpoint(status=204)
def delete_router(req: ApiRequest) -> None:
    """Delete a router without interfaces."""
    in_session(req, lambda s, svc: routers.delete_router(svc, s, req.context, req.path["router_id"]))


@endpoint(json_body=True)
def add_router_interface(req: ApiRequest) -> Any:
    """Attach a subnet (through its gateway address) or a port to the router."""
    return in_session(req, lambda s, svc: routers.add_interface(svc, s, req.context, req.path["router_id"],
                                                                 req.body))


@endpoint(json_body=True)
def remove_router_interface(req: ApiRequest) -> Any:
    """Detach a subnet or port from the router; its port is deleted."""
    return in_session(req, lambda s, svc: routers.remove_interface(svc, s, req.context, req.path["router_id"],
                                                                    req.body))


@endpoint(json_body=True)
def add_extraroutes(req: ApiRequest) -> Any:
    """Add routes to the router's list (extraroute-atomic)."""
    return {"router": in_session(req, lambda s, svc: routers.change_routes(
        svc, s, req.context, req.path["router_id"], req.body, adding=True))}


@endpoint(json_body=True)
def remove_extraroutes(req: ApiRequest) -> Any:
    """Remove routes from the router's list (extraroute-atomic)."""
    return {"router": in_session(req, lambda s, svc: routers.change_routes(
        svc, s, req.context, req.path["router_id"], req.body, adding=False))}


@endpoint()
def list_l3_agents(req: ApiRequest) -> Any:
    """The L3 agent of the host that builds the router (admin)."""
    def work(s: Any, svc: Any) -> Any:
        router = routers.get_router_row(s, req.context, req.path["router_id"])
        return agents.l3_agents_of_router(svc, s, req.context, router)
    return filtered(req, in_session(req, work), "agents")


def routes() -> list[BaseRoute]:
    return [
        Route("/v2.0/routers", list_routers, methods=["GET"]),
        Route("/v2.0/routers", create_router, methods=["POST"]),
        Route("/v2.0/routers/{router_id}", show_router, methods=["GET"]),
        Route("/v2.0/routers/{router_id}", update_router, methods=["PUT"]),
        Route("/v2.0/routers/{router_id}", delete_router, methods=["DELETE"]),
        Route("/v2.0/routers/{router_id}/add_router_interface", add_router_interface, methods=["PUT"]),
        Route("/v2.0/routers/{router_id}/remove_router_interface", remove_router_interface, methods=["PUT"]),
        Route("/v2.0/routers/{router_id}/add_extraroutes", add_extraroutes, methods=["PUT"]),
        Route("/v2.0/routers/{router_id}/remove_extraroutes", remove_extraroutes, methods=["PUT"]),
        Route("/v2.0/routers/{router_id}/l3-agents", list_l3_agents, methods=["GET"]),
    ]
