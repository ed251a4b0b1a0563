"""/v2.0/ports"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.network.api.common import body_of, create_one_or_bulk, filtered, in_session, only_fields


@endpoint()
def list_ports(req: ApiRequest) -> Any:
    """List ports."""
    return filtered(req, in_session(req, lambda s, svc: svc.list_ports(s, req.context)), "ports")


@endpoint(json_body=True, status=201)
def create_port(req: ApiRequest) -> Any:
    """Create a port, or several in one transaction (bulk)."""
    return create_one_or_bulk(req, "port", "ports",
                              lambda s, svc, attrs: svc.port_view(s, req.context, svc.create_port(s, req.context, attrs)))


@endpoint()
def show_port(req: ApiRequest) -> Any:
    """Show a port."""
    def work(s: Any, svc: Any) -> Any:
        return svc.port_view(s, req.context, svc.get_port_row(s, req.context, req.path["port_id"]))
    return {"port": only_fields(req, in_session(req, work))}


@endpoint(json_body=True)
def update_port(req: ApiRequest) -> Any:
    """Update a port."""
    attrs = body_of(req, "port")

    def work(s: Any, svc: Any) -> Any:
        return svc.port_view(s, req.context, svc.update_port(s, req.context, req.path["port_id"], attrs))
    return {"port": in_session(req, work)}


@endpoint(status=204)
def delete_port(req: ApiRequest) -> None:
    """Delete a port."""
    in_session(req, lambda s, svc: svc.delete_port(s, req.context, req.path["port_id"]))


def routes() -> list[BaseRoute]:
    return [
        Route("/v2.0/ports", list_ports, methods=["GET"]),
        Route("/v2.0/ports", create_port, methods=["POST"]),
        Route("/v2.0/ports/{port_id}", show_port, methods=["GET"]),
        Route("/v2.0/ports/{port_id}", update_port, methods=["PUT"]),
        Route("/v2.0/ports/{port_id}", delete_port, methods=["DELETE"]),
    ]
