"""/v2.0/quotas: neutron's quota API (show, details, defaults, update, reset)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.routing import BaseRoute, Route

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.network.api.common import body_of, in_session
from gureum.network.models import NetworkQuota
from gureum.network.service import DEFAULT_QUOTAS


def _target(req: ApiRequest) -> dict[str, Any]:
    return {"project_id": req.path["project_id"]}


@endpoint()
def list_quotas(req: ApiRequest) -> Any:
    """Projects with quotas other than the defaults (admin)."""
    def work(s: Any, svc: Any) -> Any:
        svc.enforce(req.context, "update_quota", {"project_id": req.context.project_id})
        projects = sorted(set(s.scalars(select(NetworkQuota.project_id))))
        return {"quotas": [{**svc.quota_limits(s, p), "project_id": p, "tenant_id": p} for p in projects]}
    return in_session(req, work)


@endpoint()
def show_quota(req: ApiRequest) -> Any:
    """A project's limits."""
    def work(s: Any, svc: Any) -> Any:
        svc.enforce(req.context, "get_quota", _target(req))
        return {"quota": svc.quota_limits(s, req.path["project_id"])}
    return in_session(req, work)


@endpoint()
def quota_details(req: ApiRequest) -> Any:
    """A project's limits with what it uses."""
    def work(s: Any, svc: Any) -> Any:
        svc.enforce(req.context, "get_quota", _target(req))
        project = req.path["project_id"]
        limits, used = svc.quota_limits(s, project), svc.quota_usage(s, project)
        return {"quota": {k: {"limit": limits[k], "used": used.get(k, 0), "reserved": 0} for k in limits}}
    return in_session(req, work)


@endpoint()
def quota_defaults(req: ApiRequest) -> Any:
    """The defaults every project starts with."""
    def work(s: Any, svc: Any) -> Any:
        svc.enforce(req.context, "get_quota", _target(req))
        return {"quota": dict(DEFAULT_QUOTAS)}
    return in_session(req, work)


@endpoint(json_body=True)
def update_quota(req: ApiRequest) -> Any:
    """Set some of a project's limits (admin)."""
    values = body_of(req, "quota")

    def work(s: Any, svc: Any) -> Any:
        svc.enforce(req.context, "update_quota", _target(req))
        return {"quota": svc.update_quota(s, req.path["project_id"], values)}
    return in_session(req, work)


@endpoint(status=204)
def delete_quota(req: ApiRequest) -> None:
    """Back to the defaults (admin)."""
    def work(s: Any, svc: Any) -> None:
        svc.enforce(req.context, "delete_quota", _target(req))
        svc.delete_quota(s, req.path["project_id"])
    in_session(req, work)


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
