"""/v2.0/quotas: neutron's quota API (show, details, defaults, update, reset)."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.network.api.common import body_of, service


@endpoint()
def list_quotas(req: ApiRequest) -> Any:
    """Projects with quotas other than the defaults (admin)."""
    return {"quotas": service(req).quotas(req.context, "list", "")}


@endpoint()
def show_quota(req: ApiRequest) -> Any:
    """A project's limits."""
    return {"quota": service(req).quotas(req.context, "show", req.path["project_id"])}


@endpoint()
def quota_details(req: ApiRequest) -> Any:
    """A project's limits with what it uses."""
    return {"quota": service(req).quotas(req.context, "details", req.path["project_id"])}


@endpoint()
def quota_defaults(req: ApiRequest) -> Any:
    """The defaults every project starts with."""
    return {"quota": service(req).quotas(req.context, "defaults", req.path["project_id"])}


@endpoint(json_body=True)
def update_quota(req: ApiRequest) -> Any:
    """Set some of a project's limits (admin)."""
    values = body_of(req, "quota")
    return {"quota": service(req).quotas(req.context, "update", req.path["project_id"], values)}


@endpoint(status=204)
def delete_quota(req: ApiRequest) -> None:
    """Back to the defaults (admin)."""
    service(req).quotas(req.context, "delete", req.path["project_id"])


def routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [Route("/v2.0/quotas", list_quotas, methods=["GET"])]
    # The old clients add '.json'; both spellings answer.
    for suffix in ("", ".json"):
        routes += [
            Route("/v2.0/quotas/{project_id}/details" + suffix, quota_details, methods=["GET"]),
            Route("/v2.0/quotas/{project_id}/default" + suffix, quota_defaults, methods=["GET"]),
        ]
    routes += [
        Route("/v2.0/quotas/{project_id}", show_quota, methods=["GET"]),
        Route("/v2.0/quotas/{project_id}", update_quota, methods=["PUT"]),
        Route("/v2.0/quotas/{project_id}", delete_quota, methods=["DELETE"]),
    ]
    return routes
