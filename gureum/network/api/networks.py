"""/v2.0/networks"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.network.api.common import body_of, create_one_or_bulk, filtered, in_session, only_fields


@endpoint()
def list_networks(req: ApiRequest) -> Any:
    """List networks."""
    return filtered(req, in_session(req, lambda s, svc: svc.list_networks(s, req.context)), "networks")


@endpoint(json_body=True, status=201)
def create_network(req: ApiRequest) -> Any:
    """Create a network, or several in one transaction (bulk)."""
    return create_one_or_bulk(req, "network", "networks", lambda s, svc, attrs: svc.create_network(s, req.context, attrs))


@endpoint()
def show_network(req: ApiRequest) -> Any:
    """Show a network."""
    def work(s: Any, svc: Any) -> Any:
        return svc.network_view(s, req.context, svc.get_network_row(s, req.context, req.path["network_id"]))
    return {"network": only_fields(req, in_session(req, work))}


@endpoint(json_body=True)
def update_network(req: ApiRequest) -> Any:
    """Update a network."""
    attrs = body_of(req, "network")
    return {"network": in_session(req, lambda s, svc: svc.update_network(s, req.context, req.path["network_id"], attrs))}


@endpoint(status=204)
def delete_network(req: ApiRequest) -> None:
    """Delete a network."""
    in_session(req, lambda s, svc: svc.delete_network(s, req.context, req.path["network_id"]))


def routes() -> list[BaseRoute]:
    return [
        Route("/v2.0/networks", list_networks, methods=["GET"]),
        Route("/v2.0/networks", create_network, methods=["POST"]),
        Route("/v2.0/networks/{network_id}", show_network, methods=["GET"]),
        Route("/v2.0/networks/{network_id}", update_network, methods=["PUT"]),
        Route("/v2.0/networks/{network_id}", delete_network, methods=["DELETE"]),
    ]
