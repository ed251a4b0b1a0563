"""/v3/users, a user's password, and the projects a user may use."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import BadRequest, Conflict, NotFound, Unauthorized
from gureum.identity import views
from gureum.identity.api.common import DESCRIPTION, ENABLED, NAME, NULLABLE_ID, get_or_404, query_bool, wrapped
from gureum.identity.assignments import projects_with_roles
from gureum.identity.bootstrap import DEFAULT_DOMAIN_ID
from gureum.identity.lockout import user_key
from gureum.identity.models import Domain, Project, RoleAssignment, User

PASSWORD = {"type": ["string", "null"], "maxLength": 4096}
USER_PROPERTIES = {
    "name": NAME,
    "domain_id": NULLABLE_ID,
    "enabled": ENABLED,
    "password": PASSWORD,
    "default_project_id": NULLABLE_ID,
    "description": DESCRIPTION,
    "email": {"type": ["string", "null"], "maxLength": 255},
    "options": {"type": "object"},
    "federated": {"type": "array"},
}
CREATE = wrapped("user", USER_PROPERTIES, required=("name",))
UPDATE = wrapped("user", USER_PROPERTIES)
CHANGE_PASSWORD = wrapped(
    "user",
    {"password": {"type": "string", "maxLength": 4096}, "original_password": {"type": "string", "maxLength": 4096}},
    required=("password", "original_password"),
    extra=False,
)
CORE = set(USER_PROPERTIES) | {"id", "links", "password_expires_at"}


def _target(u: User) -> dict[str, Any]:
    return {"target.user.id": u.id, "target.user.domain_id": u.domain_id, "target.user": {"id": u.id, "domain_id": u.domain_id}}


def _duplicate(name: str) -> Conflict:
    return Conflict(f"Conflict occurred attempting to store user - Duplicate entry found with name {name} at domain ID.")


@endpoint(summary="List users")
def list_users(req: ApiRequest) -> dict[str, Any]:
    domain_id = req.query.get("domain_id")
    req.cloud.policy.enforce(req.context, "identity:list_users", {"target.domain_id": domain_id})
    query = select(User).order_by(User.name)
    for key in ("name", "domain_id"):
        if key in req.query:
            query = query.where(getattr(User, key) == req.query[key])
    if "enabled" in req.query:
        query = query.where(User.enabled.is_(query_bool(req.query["enabled"])))
    with req.cloud.db.read() as session:
        items = [views.user(u, req.base_url) for u in session.execute(query).scalars()]
    return views.collection("users", items, str(req.request.url))


def _check_default_project(session: Any, project_id: str | None) -> None:
    if project_id and session.get(Project, project_id) is None:
        raise NotFound(f"Could not find project: {project_id}.")


@endpoint(schema=CREATE, status=201, summary="Create a user")
def create_user(req: ApiRequest) -> tuple[int, dict[str, Any]]:
    req.cloud.policy.enforce(req.context, "identity:create_user")
    ref = req.body["user"]
    password = ref.get("password")
    password_hash = req.cloud.identity.hasher.hash(password) if password else None
    try:
        with req.cloud.identity.write() as session:
            domain_id = ref.get("domain_id") or req.context.domain_id or req.context.project_domain_id or DEFAULT_DOMAIN_ID
            if session.get(Domain, domain_id) is None:
                raise NotFound(f"Could not find domain: {domain_id}.")
            _check_default_project(session, ref.get("default_project_id"))
            if session.execute(select(User.id).where(User.name == ref["name"], User.domain_id == domain_id)).first():
                raise _duplicate(ref["name"])
            user = User(
                name=ref["name"],
                domain_id=domain_id,
                enabled=ref.get("enabled", True),
                password_hash=password_hash,
                default_project_id=ref.get("default_project_id"),
                description=ref.get("description") or "",
                email=ref.get("email"),
                options=ref.get("options") or {},
                extra={k: v for k, v in ref.items() if k not in CORE},
            )
            session.add(user)
            session.flush()
            return 201, {"user": views.user(user, req.base_url)}
    except IntegrityError as exc:
        raise _duplicate(ref["name"]) from exc


@endpoint(summary="Show a user")
def get_user(req: ApiRequest) -> dict[str, Any]:
    with req.cloud.db.read() as session:
        user = get_or_404(session, User, req.path["user_id"], "user")
        req.cloud.policy.enforce(req.context, "identity:get_user", _target(user))
        return {"user": views.user(user, req.base_url)}


@endpoint(schema=UPDATE, summary="Update a user")
def update_user(req: ApiRequest) -> dict[str, Any]:
    ref = req.body["user"]
    identity = req.cloud.identity
    password_hash = identity.hasher.hash(ref["password"]) if ref.get("password") else None
    try:
        with identity.write() as session:
            user = get_or_404(session, User, req.path["user_id"], "user")
            req.cloud.policy.enforce(req.context, "identity:update_user", _target(user))
            if "domain_id" in ref and ref["domain_id"] != user.domain_id:
                raise BadRequest("Invalid input for field 'domain_id': a user cannot move to another domain.")
            if "name" in ref and ref["name"] != user.name and session.execute(
                select(User.id).where(User.name == ref["name"], User.domain_id == user.domain_id)
            ).first():
                raise _duplicate(ref["name"])
            if "default_project_id" in ref:
                _check_default_project(session, ref["default_project_id"])
                user.default_project_id = ref["default_project_id"]
            for key in ("name", "email"):
                if key in ref:
                    setattr(user, key, ref[key])
            if "description" in ref:
                user.description = ref["description"] or ""
            if "options" in ref:
                user.options = {**(user.options or {}), **ref["options"]}
            if "enabled" in ref:
                user.enabled = ref["enabled"]
                # An admin touching `enabled` is also how a locked-out user is released.
                identity.lockout.unlock(session, user_key(user.id))
                if not ref["enabled"]:
                    identity.revoke(session, user_id=user.id)
            if "password" in ref:
                user.password_hash = password_hash
                identity.revoke(session, user_id=user.id)
                # An admin setting a new password also releases a lock-out.
                identity.lockout.unlock(session, user_key(user.id))
            user.extra = {**(user.extra or {}), **{k: v for k, v in ref.items() if k not in CORE}}
            session.flush()
            return {"user": views.user(user, req.base_url)}
    except IntegrityError as exc:
        raise _duplicate(str(ref.get("name"))) from exc


@endpoint(summary="Delete a user")
def delete_user(req: ApiRequest) -> None:
    with req.cloud.identity.write() as session:
        user = get_or_404(session, User, req.path["user_id"], "user")
        req.cloud.policy.enforce(req.context, "identity:delete_user", _target(user))
        session.execute(
            delete(RoleAssignment).where(RoleAssignment.actor_type == "user", RoleAssignment.actor_id == user.id)
        )
        req.cloud.identity.revoke(session, user_id=user.id)
        session.delete(user)


@endpoint(auth=False, schema=CHANGE_PASSWORD, status=204, summary="Change one's own password")
def change_password(req: ApiRequest) -> None:
    ref = req.body["user"]
    identity = req.cloud.identity
    with req.cloud.db.read() as session:
        user = get_or_404(session, User, req.path["user_id"], "user")
        ok = identity.hasher.verify(user.password_hash, ref["original_password"])
    if not ok or not user.enabled:
        raise Unauthorized("The request you have made requires authentication.", headers=identity.www_authenticate())
    new_hash = identity.hasher.hash(ref["password"])
    with identity.write() as session:
        user = get_or_404(session, User, req.path["user_id"], "user")
        user.password_hash = new_hash
        identity.revoke(session, user_id=user.id)


@endpoint(summary="Projects a user has a role on")
def list_user_projects(req: ApiRequest) -> dict[str, Any]:
    with req.cloud.db.read() as session:
        user = get_or_404(session, User, req.path["user_id"], "user")
        req.cloud.policy.enforce(req.context, "identity:list_user_projects", _target(user))
        ids = projects_with_roles(session, user.id)
        query = select(Project).where(Project.id.in_(ids)).order_by(Project.name)
        if "name" in req.query:
            query = query.where(Project.name == req.query["name"])
        if "enabled" in req.query:
            query = query.where(Project.enabled.is_(query_bool(req.query["enabled"])))
        items = [views.project(p, req.base_url) for p in session.execute(query).scalars()]
    return views.collection("projects", items, str(req.request.url))
