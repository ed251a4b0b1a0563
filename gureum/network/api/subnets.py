"""/v2.0/subnets"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.network.api.common import body_of, create_one_or_bulk, filtered, in_session, only_fields


@endpoint()
def list_subnets(req: ApiRequest) -> Any:
    """List subnets."""
    return filtered(req, in_session(req, lambda s, svc: svc.list_subnets(s, req.context)), "subnets")


@endpoint(json_body=True, status=201)
def create_subnet(req: ApiRequest) -> Any:
    """Create a subnet, or several in one transaction (bulk)."""
    return create_one_or_bulk(req, "subnet", "subnets", lambda s, svc, attrs: svc.create_subnet(s, req.context, attrs))


@endpoint()
def show_subnet(req: ApiRequest) -> Any:
    """Show a subnet."""
    def work(s: Any, svc: Any) -> Any:
        return svc.subnet_view(svc.get_subnet_row(s, req.context, req.path["subnet_id"]))
    return {"subnet": only_fields(req, in_session(req, work))}


@endpoint(json_body=True)
def update_subnet(req: ApiRequest) -> Any:
    """Update a subnet."""
    attrs = body_of(req, "subnet")
    return {"subnet": in_session(req, lambda s, svc: svc.update_subnet(s, req.context, req.path["subnet_id"], attrs))}


@endpoint(status=204)
def delete_subnet(req: ApiRequest) -> None:
    """Delete a subnet."""
    in_session(req, lambda s, svc: svc.delete_subnet(s, req.context, req.path["subnet_id"]))


def routes() -> list[BaseRoute]:
    return [
        Route("/v2.0/subnets", list_subnets, methods=["GET"]),
        Route("/v2.0/subnets", create_subnet, methods=["POST"]),
        Route("/v2.0/subnets/{subnet_id}", show_subnet, methods=["GET"]),
        Route("/v2.0/subnets/{subnet_id}", update_subnet, methods=["PUT"]),
        Route("/v2.0/subnets/{subnet_id}", delete_subnet, methods=["DELETE"]),
    ]
