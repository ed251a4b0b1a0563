"""/v2.1/os-server-groups: affinity and anti-affinity groups (policies list before 2.64, policy+rules after).

A group's members are the live instances whose server_group_id names it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gureum.compute import quotas
from gureum.compute.api.common import microversion
from gureum.compute.api.common import NON_NEGATIVE_INT, STRING, check_body, check_query
from gureum.compute.api.flavors import enforce
from gureum.compute.models import Instance, ServerGroup
from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import BadRequest, Forbidden, NotFound

POLICIES = ("anti-affinity", "affinity")
SOFT_POLICIES = ("soft-anti-affinity", "soft-affinity")
MAX_LIMIT = 1000
_NAME = {"type": "string", "format": "name", "minLength": 1, "maxLength": 255}
_POSITIVE = {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 1, "minLength": 1}


def _create_schema(req: ApiRequest) -> dict[str, Any]:
    version = microversion(req)
    group: dict[str, Any]
    if version.at_least(64):
        group = {
            "type": "object",
            "properties": {
                "name": _NAME,
                "policy": {"type": "string", "enum": list(POLICIES + SOFT_POLICIES)},
                "rules": {"type": "object", "properties": {"max_server_per_host": _POSITIVE},
                          "additionalProperties": False},
            },
            "required": ["name", "policy"],
            "additionalProperties": False,
        }
    else:
        allowed = list(POLICIES + SOFT_POLICIES) if version.at_least(15) else list(POLICIES)
        group = {
            "type": "object",
            "properties": {
                "name": _NAME,
                "policies": {"type": "array", "prefixItems": [{"type": "string", "enum": allowed}],
                             "uniqueItems": True, "minItems": 1, "maxItems": 1, "items": False},
            },
            "required": ["name", "policies"],
            "additionalProperties": False,
        }
    return {"type": "object", "properties": {"server_group": group}, "required": ["server_group"],
            "additionalProperties": False}


def members_of(session: Session, group_ids: list[str]) -> dict[str, list[str]]:
    members: dict[str, list[str]] = {g: [] for g in group_ids}
    if not group_ids:
        return members
    rows = session.execute(
        select(Instance.server_group_id, Instance.uuid)
        .where(Instance.server_group_id.in_(group_ids), Instance.deleted.is_(False))
        .order_by(Instance.created_at)
    )
    for group_id, instance_uuid in rows:
        members[group_id].append(instance_uuid)
    return members


def group_view(group: ServerGroup, members: list[str], req: ApiRequest) -> dict[str, Any]:
    version = microversion(req)
    body: dict[str, Any] = {"id": group.id, "name": group.name}
    if version.at_least(64):
        body["policy"] = group.policy
        body["rules"] = dict(group.rules or {})
    else:
        body["policies"] = [group.policy] if group.policy else []
        body["metadata"] = {}
    body["members"] = members
    if version.at_least(13):
        body["project_id"] = group.project_id
        body["user_id"] = group.user_id
    return body


def get_group(session: Session, group_id: str) -> ServerGroup:
    """The server group by id (any project); 404 "Instance group X could not be found." otherwise."""
    group = session.get(ServerGroup, group_id)
    if group is None:
        raise NotFound(f"Instance group {group_id} could not be found.")
    return group


@endpoint(summary="List server groups")
def list_groups(req: ApiRequest) -> dict[str, Any]:
    params = check_query(req, {"all_projects": STRING, "limit": NON_NEGATIVE_INT, "offset": NON_NEGATIVE_INT})
    ctx = req.context
    enforce(req, "os_compute_api:os-server-groups:index", {"project_id": ctx.project_id})
    query = select(ServerGroup).order_by(ServerGroup.name, ServerGroup.id)
    if "all_projects" in req.query and ctx.is_admin:
        enforce(req, "os_compute_api:os-server-groups:index:all_projects", {"project_id": ctx.project_id})
    else:
        query = query.where(ServerGroup.project_id == (ctx.project_id or ""))
    offset = int(params.get("offset") or 0)
    limit = min(MAX_LIMIT, int(params.get("limit") or MAX_LIMIT))
    with req.cloud.db.session() as session:
        groups = list(session.execute(query).scalars())[offset:offset + limit]
        members = members_of(session, [g.id for g in groups])
    return {"server_groups": [group_view(g, members[g.id], req) for g in groups]}


@endpoint(summary="Show a server group")
def show_group(req: ApiRequest) -> dict[str, Any]:
    check_query(req, {}, strict_since=102)
    with req.cloud.db.session() as session:
        group = get_group(session, req.path["group_id"])
        enforce(req, "os_compute_api:os-server-groups:show", {"project_id": group.project_id})
        members = members_of(session, [group.id])[group.id]
        return {"server_group": group_view(group, members, req)}


@endpoint(json_body=True, summary="Create a server group")
def create_group(req: ApiRequest) -> dict[str, Any]:
    check_body(req, _create_schema(req))
    ctx = req.context
    project_id = ctx.project_id or ""
    enforce(req, "os_compute_api:os-server-groups:create", {"project_id": project_id})
    ref = req.body["server_group"]
    if microversion(req).at_least(64):
        policy = ref["policy"]
        rules = {k: int(v) for k, v in (ref.get("rules") or {}).items()}
        if policy != "anti-affinity" and rules:
            raise BadRequest("Only anti-affinity policy supports rules.")
    else:
        policy, rules = ref["policies"][0], {}
    with req.cloud.db.session() as session:
        limit = quotas.limits_for(session, project_id, ctx.user_id)["server_groups"]
        used = quotas.usage_for(session, project_id)["server_groups"]
        if limit >= 0 and used + 1 > limit:
            raise Forbidden("Quota exceeded, too many server groups.")
        group = ServerGroup(name=ref["name"], project_id=project_id, user_id=ctx.user_id, policy=policy, rules=rules)
        session.add(group)
        session.flush()
        return {"server_group": group_view(group, [], req)}


@endpoint(status=204, summary="Delete a server group")
def delete_group(req: ApiRequest) -> Response:
    with req.cloud.db.session() as session:
        group = get_group(session, req.path["group_id"])
        enforce(req, "os_compute_api:os-server-groups:delete", {"project_id": group.project_id})
        # The group's membership goes with it, as nova's instance_group_member rows do.
        session.execute(update(Instance).where(Instance.server_group_id == group.id).values(server_group_id=None))
        session.delete(group)
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    return [
        Route("/v2.1/os-server-groups", list_groups, methods=["GET"]),
        Route("/v2.1/os-server-groups", create_group, methods=["POST"]),
        Route("/v2.1/os-server-groups/{group_id}", show_group, methods=["GET"]),
        Route("/v2.1/os-server-groups/{group_id}", delete_group, methods=["DELETE"]),
    ]
