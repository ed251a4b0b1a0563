"""Grants (PUT/HEAD/GET/DELETE .../roles/{role_id}) and GET /v3/role_assignments."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import BadRequest, NotFound
from gureum.identity import views
from gureum.identity.api.common import get_or_404
from gureum.identity.assignments import SYSTEM_TARGET, Grant, add_grant, expand_implied, find_grant
from gureum.identity.models import Domain, Group, GroupMembership, Project, Role, RoleAssignment, User

ACTOR_MODELS = {"user": User, "group": Group}
TARGET_MODELS = {"project": Project, "domain": Domain}


def _grant_from_path(req: ApiRequest, session: Session, inherited: bool = False) -> Grant:
    path = req.path
    actor_type = "user" if "user_id" in path else "group"
    actor_id = path[f"{actor_type}_id"]
    get_or_404(session, ACTOR_MODELS[actor_type], actor_id, actor_type)
    if "project_id" in path:
        target_type, target_id = "project", path["project_id"]
    elif "domain_id" in path:
        target_type, target_id = "domain", path["domain_id"]
    else:
        target_type, target_id = "system", SYSTEM_TARGET
    if target_type != "system":
        get_or_404(session, TARGET_MODELS[target_type], target_id, target_type)
    role_id = path.get("role_id", "")
    if role_id:
        role = get_or_404(session, Role, role_id, "role")
        if role.domain_id and target_type == "project":
            project = session.get(Project, target_id)
            if project is not None and project.domain_id != role.domain_id:
                raise BadRequest("A domain-specific role can only be granted within its own domain.")
    return Grant(actor_type, actor_id, target_type, target_id, role_id, inherited)


def _action(grant: Grant, verb: str) -> str:
    if grant.target_type == "system":
        return {
            "check": f"identity:check_system_grant_for_{grant.actor_type}",
            "create": f"identity:create_system_grant_for_{grant.actor_type}",
            "revoke": f"identity:revoke_system_grant_for_{grant.actor_type}",
            "list": f"identity:list_system_grants_for_{grant.actor_type}",
        }[verb]
    return {"check": "identity:check_grant", "create": "identity:create_grant", "revoke": "identity:revoke_grant", "list": "identity:list_grants"}[verb]


def _inherited(req: ApiRequest) -> bool:
    return req.request.url.path.endswith("/inherited_to_projects")


@endpoint(summary="Grant a role")
def create_grant(req: ApiRequest) -> None:
    with req.cloud.identity.write() as session:
        grant = _grant_from_path(req, session, _inherited(req))
        req.cloud.policy.enforce(req.context, _action(grant, "create"))
        add_grant(session, grant)


@endpoint(summary="Check a grant")
def check_grant(req: ApiRequest) -> None:
    with req.cloud.db.read() as session:
        grant = _grant_from_path(req, session, _inherited(req))
        req.cloud.policy.enforce(req.context, _action(grant, "check"))
        if find_grant(session, grant) is None:
            raise NotFound(f"Could not find role assignment with role: {grant.role_id}, {grant.actor_type}: {grant.actor_id}, {grant.target_type}: {grant.target_id}.")


@endpoint(summary="Revoke a grant")
def revoke_grant(req: ApiRequest) -> None:
    with req.cloud.identity.write() as session:
        grant = _grant_from_path(req, session, _inherited(req))
        req.cloud.policy.enforce(req.context, _action(grant, "revoke"))
        row = find_grant(session, grant)
        if row is None:
            raise NotFound(f"Could not find role assignment with role: {grant.role_id}, {grant.actor_type}: {grant.actor_id}, {grant.target_type}: {grant.target_id}.")
        session.delete(row)


@endpoint(summary="List the roles granted to an actor on a target")
def list_grants(req: ApiRequest) -> dict[str, Any]:
    inherited = _inherited(req)
    with req.cloud.db.read() as session:
        grant = _grant_from_path(req, session, inherited)
        req.cloud.policy.enforce(req.context, _action(grant, "list"))
        role_ids = session.execute(
            select(RoleAssignment.role_id).where(
                RoleAssignment.actor_type == grant.actor_type,
                RoleAssignment.actor_id == grant.actor_id,
                RoleAssignment.target_type == grant.target_type,
                RoleAssignment.target_id == grant.target_id,
                RoleAssignment.inherited.is_(inherited),
            )
        ).scalars().all()
        roles = session.execute(select(Role).where(Role.id.in_(role_ids)).order_by(Role.name)).scalars()
        items = [views.role(r, req.base_url) for r in roles]
    return views.collection("roles", items, str(req.request.url))


# -- GET /v3/role_assignments ------------------------------------------------------------


def _flag(req: ApiRequest, name: str) -> bool:
    return name in req.query and req.query[name].lower() not in ("0", "false")


def _entity(session: Session, cache: dict[tuple[str, str], Any], kind: str, ident: str) -> Any:
    key = (kind, ident)
    if key not in cache:
        model = {"user": User, "group": Group, "project": Project, "domain": Domain, "role": Role}[kind]
        cache[key] = session.get(model, ident)
    return cache[key]


def _named(session: Session, cache: dict[tuple[str, str], Any], kind: str, ident: str) -> dict[str, Any]:
    ref: dict[str, Any] = {"id": ident}
    row = _entity(session, cache, kind, ident)
    if row is None:
        return ref
    ref["name"] = row.name
    domain_id = getattr(row, "domain_id", None)
    if kind in ("user", "group", "project") and domain_id:
        domain = _entity(session, cache, "domain", domain_id)
        ref["domain"] = {"id": domain_id, "name": domain.name if domain else None}
    if kind == "role" and domain_id:
        domain = _entity(session, cache, "domain", domain_id)
        ref["domain"] = {"id": domain_id, "name": domain.name if domain else None}
    return ref


def _assignment_body(
    session: Session,
    cache: dict[tuple[str, str], Any],
    base: str,
    actor: tuple[str, str],
    target: tuple[str, str],
    role_id: str,
    inherited: bool,
    names: bool,
    via_group: str | None = None,
) -> dict[str, Any]:
    actor_type, actor_id = actor
    target_type, target_id = target
    ref = (lambda kind, i: _named(session, cache, kind, i)) if names else (lambda kind, i: {"id": i})
    body: dict[str, Any] = {"role": ref("role", role_id), actor_type: ref(actor_type, actor_id)}
    if target_type == "system":
        body["scope"] = {"system": {"all": True}}
    else:
        body["scope"] = {target_type: ref(target_type, target_id)}
    if inherited:
        body["scope"]["OS-INHERIT:inherited_to"] = "projects"
    owner = f"{'groups' if via_group else actor_type + 's'}/{via_group or actor_id}"
    scope_path = "system" if target_type == "system" else f"{target_type}s/{target_id}"
    link = f"{base}/v3/{scope_path}/{owner}/roles/{role_id}"
    if inherited:
        link = f"{base}/v3/OS-INHERIT/{scope_path}/{owner}/roles/{role_id}/inherited_to_projects"
    body["links"] = {"assignment": link}
    if via_group:
        body["links"]["membership"] = f"{base}/v3/groups/{via_group}/users/{actor_id}"
    return body


def _projects_under(session: Session, project_ids: list[str]) -> list[str]:
    found: list[str] = []
    frontier = project_ids
    while frontier:
        children = list(session.execute(select(Project.id).where(Project.parent_id.in_(frontier))).scalars())
        found.extend(children)
        frontier = children
    return found


@endpoint(summary="List role assignments")
def list_role_assignments(req: ApiRequest) -> dict[str, Any]:
    q = req.query
    req.cloud.policy.enforce(req.context, "identity:list_role_assignments", {"target.domain_id": q.get("scope.domain.id")})
    effective = _flag(req, "effective")
    names = _flag(req, "include_names")
    include_subtree = _flag(req, "include_subtree")
    want_inherited = q.get("scope.OS-INHERIT:inherited_to") == "projects"
    if "user.id" in q and "group.id" in q:
        raise BadRequest("Specify at most one of user.id and group.id.")
    if "scope.project.id" in q and "scope.domain.id" in q:
        raise BadRequest("Specify at most one of scope.project.id and scope.domain.id.")
    if effective and "group.id" in q:
        raise BadRequest("effective cannot be combined with group.id: group grants are expanded to users.")
    with req.cloud.db.read() as session:
        rows = list(session.execute(select(RoleAssignment)).scalars())
        domain_role_ids = set(session.execute(select(Role.id).where(Role.domain_id != "")).scalars())
        memberships: dict[str, list[str]] = {}
        for m in session.execute(select(GroupMembership)).scalars():
            memberships.setdefault(m.group_id, []).append(m.user_id)
        # (actor_type, actor_id, target_type, target_id, role_id, inherited, via_group)
        expanded: list[tuple[str, str, str, str, str, bool, str | None]] = []
        for r in rows:
            entry = (r.actor_type, r.actor_id, r.target_type, r.target_id, r.role_id, r.inherited, None)
            if not effective:
                expanded.append(entry)
                continue
            actors = [(r.actor_type, r.actor_id, None)]
            if r.actor_type == "group":
                actors = [("user", u, r.actor_id) for u in memberships.get(r.actor_id, [])]
            targets = [(r.target_type, r.target_id)]
            if r.inherited:
                if r.target_type == "domain":
                    ids = list(session.execute(select(Project.id).where(Project.domain_id == r.target_id)).scalars())
                else:
                    ids = _projects_under(session, [r.target_id])
                targets = [("project", i) for i in ids]
            # keystone: a domain-specific role is never effective itself, only what it implies.
            role_ids = {i for i in expand_implied(session, [r.role_id]) if i not in domain_role_ids}
            for actor_type, actor_id, via in actors:
                for target_type, target_id in targets:
                    for role_id in role_ids:
                        expanded.append((actor_type, actor_id, target_type, target_id, role_id, False, via))
        project_filter: set[str] | None = None
        if "scope.project.id" in q:
            project_filter = {q["scope.project.id"]}
            if include_subtree:
                project_filter |= set(_projects_under(session, [q["scope.project.id"]]))
        results, seen = [], set()
        cache: dict[tuple[str, str], Any] = {}
        for actor_type, actor_id, target_type, target_id, role_id, inherited, via in expanded:
            if "user.id" in q and (actor_type != "user" or actor_id != q["user.id"]):
                continue
            if "group.id" in q and (actor_type != "group" or actor_id != q["group.id"]):
                continue
            if "role.id" in q and role_id != q["role.id"]:
                continue
            if project_filter is not None and (target_type != "project" or target_id not in project_filter):
                continue
            if "scope.domain.id" in q and (target_type != "domain" or target_id != q["scope.domain.id"]):
                continue
            if "scope.system" in q and target_type != "system":
                continue
            if want_inherited and not inherited:
                continue
            key = (actor_type, actor_id, target_type, target_id, role_id, inherited)
            if key in seen:
                continue
            seen.add(key)
            results.append(
                _assignment_body(session, cache, req.base_url, (actor_type, actor_id), (target_type, target_id), role_id, inherited, names, via)
            )
    return {"role_assignments": results, "links": {"self": str(req.request.url), "previous": None, "next": None}}
