"""Network quotas: per-project limits over neutron's defaults, and usage counted in SQL: no HTTP here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import String, func, literal, select, union_all
from sqlalchemy.orm import Session

from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest, Conflict
from gureum.network.common import as_bool, as_int
from gureum.network.models import (
    FloatingIP, Network, NetworkQuota, Port, Router, SecurityGroup, SecurityGroupRule, Subnet,
)

if TYPE_CHECKING:
    from gureum.network.service import NetworkService

DEFAULT_QUOTAS: dict[str, int] = {
    "network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50,
    "security_group": 10, "security_group_rule": 100,
}
QUOTA_MODELS = {"network": Network, "subnet": Subnet, "port": Port, "security_group": SecurityGroup,
                "security_group_rule": SecurityGroupRule, "router": Router, "floatingip": FloatingIP}


def quota_limits(session: Session, project_id: str) -> dict[str, int]:
    limits = dict(DEFAULT_QUOTAS)
    for row in session.scalars(select(NetworkQuota).where(NetworkQuota.project_id == project_id)):
        limits[row.resource] = row.hard_limit
    return limits


def quota_usage(session: Session, project_id: str) -> dict[str, int]:
    """What the project holds of each resource, in one statement."""
    counts = union_all(*[select(literal(name, type_=String).label("resource"), func.count().label("used"))
                         .select_from(model).where(model.project_id == project_id)
                         for name, model in QUOTA_MODELS.items()])
    used = {name: 0 for name in DEFAULT_QUOTAS}
    for resource, count in session.execute(counts):
        used[resource] = count or 0
    return used


def check_quota(session: Session, project_id: str, resource: str, adding: int = 1) -> None:
    limit = quota_limits(session, project_id)[resource]
    if limit < 0:
        return
    model = QUOTA_MODELS[resource]
    used = session.scalar(select(func.count()).select_from(model).where(model.project_id == project_id)) or 0
    if used + adding > limit:
        raise Conflict(f"Quota exceeded for resources: ['{resource}'].", kind="OverQuota")


def list_quotas(svc: "NetworkService", session: Session, ctx: RequestContext) -> list[dict[str, Any]]:
    """Projects with limits other than the defaults (admin)."""
    svc.enforce(ctx, "update_quota", {"project_id": ctx.project_id})
    projects = sorted(set(session.scalars(select(NetworkQuota.project_id))))
    return [{**quota_limits(session, p), "project_id": p, "tenant_id": p} for p in projects]


def show_quota(svc: "NetworkService", session: Session, ctx: RequestContext, project_id: str) -> dict[str, int]:
    svc.enforce(ctx, "get_quota", {"project_id": project_id})
    return quota_limits(session, project_id)


def quota_details(svc: "NetworkService", session: Session, ctx: RequestContext,
                  project_id: str) -> dict[str, dict[str, int]]:
    svc.enforce(ctx, "get_quota", {"project_id": project_id})
    limits, used = quota_limits(session, project_id), quota_usage(session, project_id)
    return {k: {"limit": limits[k], "used": used.get(k, 0), "reserved": 0} for k in limits}


def quota_defaults(svc: "NetworkService", ctx: RequestContext, project_id: str) -> dict[str, int]:
    svc.enforce(ctx, "get_quota", {"project_id": project_id})
    return dict(DEFAULT_QUOTAS)


def update_quota(svc: "NetworkService", session: Session, ctx: RequestContext, project_id: str,
                 values: dict[str, Any]) -> dict[str, int]:
    svc.enforce(ctx, "update_quota", {"project_id": project_id})
    values = dict(values)
    # The CLI sends check_limit (neutron's quota-check-limit): refuse a limit below current use.
    check_limit = as_bool(values.pop("check_limit", False), "check_limit")
    used = quota_usage(session, project_id) if check_limit else {}
    for resource, value in values.items():
        if resource not in DEFAULT_QUOTAS:
            raise BadRequest(f"Unrecognized attribute(s) '{resource}'", kind="HTTPBadRequest")
        limit = as_int(value, resource, -1, 2**31 - 1)
        if check_limit and limit >= 0 and used.get(resource, 0) > limit:
            raise BadRequest(f"Quota limit {limit} for {resource} must be greater than or equal to already "
                             f"used and reserved {used[resource]}.", kind="InvalidQuotaValue")
        row = session.get(NetworkQuota, (project_id, resource))
        if row is None:
            session.add(NetworkQuota(project_id=project_id, resource=resource, hard_limit=limit))
        else:
            row.hard_limit = limit
    session.flush()
    return quota_limits(session, project_id)


def delete_quota(svc: "NetworkService", session: Session, ctx: RequestContext, project_id: str) -> None:
    svc.enforce(ctx, "delete_quota", {"project_id": project_id})
    for row in session.scalars(select(NetworkQuota).where(NetworkQuota.project_id == project_id)):
        session.delete(row)
