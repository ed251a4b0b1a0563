"""/v3/groups, group membership, and /v3/users/{user_id}/groups.

Grants to groups live in assignments.py (actor "group"); effective roles already
count a user's groups. Every change here goes through `identity.write()`, so the
revision bump makes each cached token re-resolve its roles: a token whose roles
came through a group loses them when the membership or the group goes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute, Route

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import BadRequest, Conflict, NotFound
from gureum.identity import views
from gureum.identity.api.common import DESCRIPTION, NAME, NULLABLE_ID, get_or_404, query_bool, wrapped
from gureum.identity.bootstrap import DEFAULT_DOMAIN_ID
from gureum.identity.models import Domain, Group, GroupMembership, RoleAssignment, User

GROUP_PROPERTIES = {"name": NAME, "description": DESCRIPTION, "domain_id": NULLABLE_ID}
CREATE = wrapped("group", GROUP_PROPERTIES, required=("name",))
UPDATE = {
    "type": "object",
    "properties": {
        "group": {"type": "object", "properties": GROUP_PROPERTIES, "minProperties": 1, "additionalProperties": True}
    },
    "required": ["group"],
    "additionalProperties": False,
}
CORE = set(GROUP_PROPERTIES) | {"id", "links"}


def _group_target(g: Group | None) -> dict[str, Any]:
    if g is None:
        return {}
    return {"target.group.id": g.id, "target.group.domain_id": g.domain_id}


def _user_target(u: User | None) -> dict[str, Any]:
    if u is None:
        return {}
    return {"target.user.id": u.id, "target.user.domain_id": u.domain_id}


def _duplicate(name: str, domain_id: str) -> Conflict:
    return Conflict(
        f"Conflict occurred attempting to store group - Duplicate entry found with name {name} "
        f"at domain ID {domain_id}."
    )


def _name_taken(session: Session, name: str, domain_id: str, except_id: str | None = None) -> bool:
    query = select(Group.id).where(Group.name == name, Group.domain_id == domain_id)
    if except_id:
        query = query.where(Group.id != except_id)
    return session.execute(query).first() is not None


# -- groups -------------------------------------------------------------------------


@endpoint(summary="List groups")
def list_groups(req: ApiRequest) -> dict[str, Any]:
    ctx = req.context
    # keystone: a domain-scoped token sees the groups of its own domain only.
    scope_domain = ctx.domain_id
    target = {"target.group.domain_id": scope_domain or req.query.get("domain_id")}
    req.cloud.policy.enforce(ctx, "identity:list_groups", target)
    query = select(Group).order_by(Group.name)
    for key in ("name", "domain_id"):
        if key in req.query:
            query = query.where(getattr(Group, key) == req.query[key])
    if scope_domain:
        query = query.where(Group.domain_id == scope_domain)
    with req.cloud.db.read() as session:
        items = [views.group(g, req.base_url) for g in session.execute(query).scalars()]
    return views.collection("groups", items, str(req.request.url))


@endpoint(schema=CREATE, status=201, summary="Create a group")
def create_group(req: ApiRequest) -> tuple[int, dict[str, Any]]:
    ref = req.body["group"]
    ctx = req.context
    domain_id = ref.get("domain_id") or ctx.domain_id or ctx.project_domain_id or DEFAULT_DOMAIN_ID
    req.cloud.policy.enforce(ctx, "identity:create_group", {"target.group.domain_id": domain_id})
    name = ref["name"].strip()
    try:
        with req.cloud.identity.write() as session:
            if session.get(Domain, domain_id) is None:
                raise NotFound(f"Could not find domain: {domain_id}.")
            if _name_taken(session, name, domain_id):
                raise _duplicate(name, domain_id)
            group = Group(
                name=name,
                domain_id=domain_id,
                description=ref.get("description") or "",
                extra={k: v for k, v in ref.items() if k not in CORE},
            )
            session.add(group)
            session.flush()
            return 201, {"group": views.group(group, req.base_url)}
    except IntegrityError as exc:
        raise _duplicate(name, domain_id) from exc


@endpoint(summary="Show a group")
def get_group(req: ApiRequest) -> dict[str, Any]:
    with req.cloud.db.read() as session:
        group = get_or_404(session, Group, req.path["group_id"], "group")
        req.cloud.policy.enforce(req.context, "identity:get_group", _group_target(group))
        return {"group": views.group(group, req.base_url)}


@endpoint(schema=UPDATE, summary="Update a group")
def update_group(req: ApiRequest) -> dict[str, Any]:
    ref = req.body["group"]
    group_id = req.path["group_id"]
    if ref.get("id") is not None and ref["id"] != group_id:
        raise BadRequest("Cannot change ID")
    domain_id = ""
    try:
        with req.cloud.identity.write() as session:
            group = get_or_404(session, Group, group_id, "group")
            req.cloud.policy.enforce(req.context, "identity:update_group", _group_target(group))
            domain_id = group.domain_id
            if "domain_id" in ref and ref["domain_id"] != group.domain_id:
                raise BadRequest("Cannot change Domain ID")
            if "name" in ref:
                name = ref["name"].strip()
                if _name_taken(session, name, group.domain_id, except_id=group.id):
                    raise _duplicate(name, group.domain_id)
                group.name = name
            if "description" in ref:
                group.description = ref["description"] or ""
            group.extra = {**(group.extra or {}), **{k: v for k, v in ref.items() if k not in CORE}}
            session.flush()
            return {"group": views.group(group, req.base_url)}
    except IntegrityError as exc:
        raise _duplicate(str(ref.get("name", "")).strip(), domain_id) from exc


@endpoint(summary="Delete a group")
def delete_group(req: ApiRequest) -> None:
    with req.cloud.identity.write() as session:
        group = get_or_404(session, Group, req.path["group_id"], "group")
        req.cloud.policy.enforce(req.context, "identity:delete_group", _group_target(group))
        # The group's grants go with it; its members' tokens re-resolve without them.
        session.execute(
            delete(RoleAssignment).where(RoleAssignment.actor_type == "group", RoleAssignment.actor_id == group.id)
        )
        session.execute(delete(GroupMembership).where(GroupMembership.group_id == group.id))
        session.delete(group)


# -- membership ---------------------------------------------------------------------


def _user_filters(query: Any, req: ApiRequest) -> Any:
    for key in ("name", "domain_id"):
        if key in req.query:
            query = query.where(getattr(User, key) == req.query[key])
    if "enabled" in req.query:
        query = query.where(User.enabled.is_(query_bool(req.query["enabled"])))
    return query


@endpoint(summary="List the users in a group")
def list_users_in_group(req: ApiRequest) -> dict[str, Any]:
    ctx = req.context
    with req.cloud.db.read() as session:
        group = session.get(Group, req.path["group_id"])
        req.cloud.policy.enforce(ctx, "identity:list_users_in_group", _group_target(group))
        if group is None:
            raise NotFound(f"Could not find group: {req.path['group_id']}.")
        query = (
            select(User)
            .join(GroupMembership, GroupMembership.user_id == User.id)
            .where(GroupMembership.group_id == group.id)
            .order_by(User.name)
        )
        query = _user_filters(query, req)
        if ctx.domain_id:
            query = query.where(User.domain_id == ctx.domain_id)
        items = [views.user(u, req.base_url) for u in session.execute(query).scalars()]
    return views.collection("users", items, str(req.request.url))


def _group_and_user(req: ApiRequest, session: Session, action: str) -> tuple[Group, User]:
    """Enforce first (with whatever exists), then say which of the two is missing."""
    group = session.get(Group, req.path["group_id"])
    user = session.get(User, req.path["user_id"])
    req.cloud.policy.enforce(req.context, action, {**_group_target(group), **_user_target(user)})
    if group is None:
        raise NotFound(f"Could not find group: {req.path['group_id']}.")
    if user is None:
        raise NotFound(f"Could not find user: {req.path['user_id']}.")
    return group, user


def _not_member(user_id: str, group_id: str) -> NotFound:
    return NotFound(f"User '{user_id}' not found in group '{group_id}'")


@endpoint(summary="Check whether a user is in a group")
def check_user_in_group(req: ApiRequest) -> None:
    with req.cloud.db.read() as session:
        group, user = _group_and_user(req, session, "identity:check_user_in_group")
        if session.get(GroupMembership, (group.id, user.id)) is None:
            raise _not_member(user.id, group.id)


@endpoint(summary="Add a user to a group")
def add_user_to_group(req: ApiRequest) -> None:
    with req.cloud.identity.write() as session:
        group, user = _group_and_user(req, session, "identity:add_user_to_group")
        if session.get(GroupMembership, (group.id, user.id)) is None:
            session.add(GroupMembership(group_id=group.id, user_id=user.id))


@endpoint(summary="Remove a user from a group")
def remove_user_from_group(req: ApiRequest) -> None:
    with req.cloud.identity.write() as session:
        group, user = _group_and_user(req, session, "identity:remove_user_from_group")
        membership = session.get(GroupMembership, (group.id, user.id))
        if membership is None:
            raise _not_member(user.id, group.id)
        session.delete(membership)


@endpoint(summary="List the groups a user belongs to")
def list_groups_for_user(req: ApiRequest) -> dict[str, Any]:
    ctx = req.context
    with req.cloud.db.read() as session:
        user = get_or_404(session, User, req.path["user_id"], "user")
        req.cloud.policy.enforce(ctx, "identity:list_groups_for_user", _user_target(user))
        query = (
            select(Group)
            .join(GroupMembership, GroupMembership.group_id == Group.id)
            .where(GroupMembership.user_id == user.id)
            .order_by(Group.name)
        )
        if "name" in req.query:
            query = query.where(Group.name == req.query["name"])
        if ctx.domain_id:
            query = query.where(Group.domain_id == ctx.domain_id)
        items = [views.group(g, req.base_url) for g in session.execute(query).scalars()]
    return views.collection("groups", items, str(req.request.url))


def routes() -> list[BaseRoute]:
    member = "/v3/groups/{group_id}/users/{user_id}"
    return [
        Route("/v3/groups", list_groups, methods=["GET"]),
        Route("/v3/groups", create_group, methods=["POST"]),
        Route("/v3/groups/{group_id}", get_group, methods=["GET"]),
        Route("/v3/groups/{group_id}", update_group, methods=["PATCH"]),
        Route("/v3/groups/{group_id}", delete_group, methods=["DELETE"]),
        Route("/v3/groups/{group_id}/users", list_users_in_group, methods=["GET"]),
        # GET also answers HEAD, which is what the clients send.
        Route(member, check_user_in_group, methods=["GET"]),
        Route(member, add_user_to_group, methods=["PUT"]),
        Route(member, remove_user_from_group, methods=["DELETE"]),
        Route("/v3/users/{user_id}/groups", list_groups_for_user, methods=["GET"]),
    ]
