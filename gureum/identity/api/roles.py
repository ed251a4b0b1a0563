"""/v3/roles and implied roles (/v3/roles/{prior}/implies/{implied}, /v3/role_inferences)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import Conflict, Forbidden, NotFound
from gureum.identity import views
from gureum.identity.api.common import DESCRIPTION, NAME, NULLABLE_ID, get_or_404, wrapped
from gureum.identity.assignments import expand_implied
from gureum.identity.models import Domain, ImpliedRole, Role, RoleAssignment

ROLE_PROPERTIES = {"name": NAME, "domain_id": NULLABLE_ID, "description": DESCRIPTION, "options": {"type": "object"}}
CREATE = wrapped("role", ROLE_PROPERTIES, required=("name",))
UPDATE = wrapped("role", ROLE_PROPERTIES)
CORE = set(ROLE_PROPERTIES) | {"id", "links"}


def _duplicate(name: str) -> Conflict:
    return Conflict(f"Conflict occurred attempting to store role - Duplicate entry found with name {name}.")


def _action(role: Role | None, base: str) -> str:
    return f"identity:{base}_domain_role" if role is not None and role.domain_id else f"identity:{base}_role"


@endpoint(summary="List roles")
def list_roles(req: ApiRequest) -> dict[str, Any]:
    domain_id = req.query.get("domain_id", "")
    req.cloud.policy.enforce(req.context, "identity:list_domain_roles" if domain_id else "identity:list_roles")
    query = select(Role).where(Role.domain_id == domain_id).order_by(Role.name)
    if "name" in req.query:
        query = query.where(Role.name == req.query["name"])
    with req.cloud.db.read() as session:
        items = [views.role(r, req.base_url) for r in session.execute(query).scalars()]
    return views.collection("roles", items, str(req.request.url))


@endpoint(schema=CREATE, status=201, summary="Create a role")
def create_role(req: ApiRequest) -> tuple[int, dict[str, Any]]:
    ref = req.body["role"]
    domain_id = ref.get("domain_id") or ""
    req.cloud.policy.enforce(req.context, "identity:create_domain_role" if domain_id else "identity:create_role")
    try:
        with req.cloud.identity.write() as session:
            if domain_id and session.get(Domain, domain_id) is None:
                raise NotFound(f"Could not find domain: {domain_id}.")
            if session.execute(select(Role.id).where(Role.name == ref["name"], Role.domain_id == domain_id)).first():
                raise _duplicate(ref["name"])
            role = Role(
                name=ref["name"],
                domain_id=domain_id,
                description=ref.get("description") or "",
                options=ref.get("options") or {},
                extra={k: v for k, v in ref.items() if k not in CORE},
            )
            session.add(role)
            session.flush()
            return 201, {"role": views.role(role, req.base_url)}
    except IntegrityError as exc:
        raise _duplicate(ref["name"]) from exc


@endpoint(summary="Show a role")
def get_role(req: ApiRequest) -> dict[str, Any]:
    with req.cloud.db.read() as session:
        role = get_or_404(session, Role, req.path["role_id"], "role")
        req.cloud.policy.enforce(req.context, _action(role, "get"))
        return {"role": views.role(role, req.base_url)}


@endpoint(schema=UPDATE, summary="Update a role")
def update_role(req: ApiRequest) -> dict[str, Any]:
    ref = req.body["role"]
    try:
        with req.cloud.identity.write() as session:
            role = get_or_404(session, Role, req.path["role_id"], "role")
            req.cloud.policy.enforce(req.context, _action(role, "update"))
            if "domain_id" in ref and (ref["domain_id"] or "") != role.domain_id:
                raise Forbidden("Update of `domain_id` is not allowed.")
            if role.options.get("immutable") and set(ref) - {"options"}:
                raise Forbidden(f"Role {role.id} is immutable; set options.immutable to false first.")
            if "name" in ref and ref["name"] != role.name and session.execute(
                select(Role.id).where(Role.name == ref["name"], Role.domain_id == role.domain_id)
            ).first():
                raise _duplicate(ref["name"])
            if "name" in ref:
                role.name = ref["name"]
            if "description" in ref:
                role.description = ref["description"] or ""
            if "options" in ref:
                role.options = {**(role.options or {}), **ref["options"]}
            role.extra = {**(role.extra or {}), **{k: v for k, v in ref.items() if k not in CORE}}
            session.flush()
            return {"role": views.role(role, req.base_url)}
    except IntegrityError as exc:
        raise _duplicate(str(ref.get("name"))) from exc


@endpoint(summary="Delete a role")
def delete_role(req: ApiRequest) -> None:
    with req.cloud.identity.write() as session:
        role = get_or_404(session, Role, req.path["role_id"], "role")
        req.cloud.policy.enforce(req.context, _action(role, "delete"))
        if role.options.get("immutable"):
            raise Forbidden(f"Role {role.id} is immutable; set options.immutable to false first.")
        session.execute(ImpliedRole.__table__.delete().where(
            (ImpliedRole.prior_role_id == role.id) | (ImpliedRole.implied_role_id == role.id)
        ))
        session.execute(RoleAssignment.__table__.delete().where(RoleAssignment.role_id == role.id))
        session.delete(role)


# -- implied roles ------------------------------------------------------------------


def _inference(prior: Role, implied: list[Role], base: str) -> dict[str, Any]:
    return {"prior_role": views.role_ref(prior, base), "implies": [views.role_ref(r, base) for r in implied]}


def _pair(req: ApiRequest, session: Any) -> tuple[Role, Role]:
    prior = get_or_404(session, Role, req.path["prior_role_id"], "role")
    implied = get_or_404(session, Role, req.path["implied_role_id"], "role")
    return prior, implied


@endpoint(status=201, summary="Make a role imply another")
def create_implied_role(req: ApiRequest) -> tuple[int, dict[str, Any]]:
    req.cloud.policy.enforce(req.context, "identity:create_implied_role")
    with req.cloud.identity.write() as session:
        prior, implied = _pair(req, session)
        if implied.name == "admin":
            raise Forbidden(f"{implied.name} may not be implied by another role.")
        if prior.id == implied.id:
            raise Forbidden("A role cannot imply itself.")
        if prior.id in expand_implied(session, [implied.id]):
            raise Conflict(f"Implying {implied.name} from {prior.name} would make a cycle.")
        if session.get(ImpliedRole, (prior.id, implied.id)) is None:
            session.add(ImpliedRole(prior_role_id=prior.id, implied_role_id=implied.id))
        body = {"role_inference": {"prior_role": views.role_ref(prior, req.base_url), "implies": views.role_ref(implied, req.base_url)},
                "links": {"self": str(req.request.url)}}
        return 201, body


@endpoint(summary="Show an implied role")
def get_implied_role(req: ApiRequest) -> dict[str, Any]:
    req.cloud.policy.enforce(req.context, "identity:get_implied_role")
    with req.cloud.db.read() as session:
        prior, implied = _pair(req, session)
        if session.get(ImpliedRole, (prior.id, implied.id)) is None:
            raise NotFound(f"{prior.id} does not imply {implied.id}.")
        return {"role_inference": {"prior_role": views.role_ref(prior, req.base_url), "implies": views.role_ref(implied, req.base_url)},
                "links": {"self": str(req.request.url)}}


@endpoint(summary="Check an implied role")
def check_implied_role(req: ApiRequest) -> None:
    req.cloud.policy.enforce(req.context, "identity:check_implied_role")
    with req.cloud.db.read() as session:
        prior, implied = _pair(req, session)
        if session.get(ImpliedRole, (prior.id, implied.id)) is None:
            raise NotFound(f"{prior.id} does not imply {implied.id}.")


@endpoint(summary="Remove an implied role")
def delete_implied_role(req: ApiRequest) -> None:
    req.cloud.policy.enforce(req.context, "identity:delete_implied_role")
    with req.cloud.identity.write() as session:
        prior, implied = _pair(req, session)
        row = session.get(ImpliedRole, (prior.id, implied.id))
        if row is None:
            raise NotFound(f"{prior.id} does not imply {implied.id}.")
        session.delete(row)


@endpoint(summary="Roles a role implies")
def list_implied_roles(req: ApiRequest) -> dict[str, Any]:
    req.cloud.policy.enforce(req.context, "identity:list_implied_roles")
    with req.cloud.db.read() as session:
        prior = get_or_404(session, Role, req.path["prior_role_id"], "role")
        implied_ids = session.execute(select(ImpliedRole.implied_role_id).where(ImpliedRole.prior_role_id == prior.id)).scalars().all()
        implied = list(session.execute(select(Role).where(Role.id.in_(implied_ids))).scalars())
        return {"role_inference": _inference(prior, implied, req.base_url), "links": {"self": str(req.request.url)}}


@endpoint(summary="Every role inference rule")
def list_role_inferences(req: ApiRequest) -> dict[str, Any]:
    req.cloud.policy.enforce(req.context, "identity:list_role_inference_rules")
    with req.cloud.db.read() as session:
        rules: dict[str, list[str]] = {}
        for row in session.execute(select(ImpliedRole)).scalars():
            rules.setdefault(row.prior_role_id, []).append(row.implied_role_id)
        roles = {r.id: r for r in session.execute(select(Role)).scalars()}
        inferences = [
            _inference(roles[p], [roles[i] for i in implied if i in roles], req.base_url)
            for p, implied in rules.items()
            if p in roles
        ]
    return {"role_inferences": inferences, "links": {"self": str(req.request.url)}}
