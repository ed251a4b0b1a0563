"""/v3/domains"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import Conflict, Forbidden
from gureum.identity import views
from gureum.identity.api.common import DESCRIPTION, ENABLED, NAME_64 as NAME, TAGS, get_or_404, query_bool, wrapped
from gureum.identity.models import Domain, Group, Project, RoleAssignment, User

CREATE = wrapped(
    "domain",
    {"name": NAME, "description": DESCRIPTION, "enabled": ENABLED, "tags": TAGS, "explicit_domain_id": {"type": "string"}},
    required=("name",),
)
UPDATE = wrapped("domain", {"name": NAME, "description": DESCRIPTION, "enabled": ENABLED, "tags": TAGS})
CORE = {"name", "description", "enabled", "tags", "options", "id", "links", "explicit_domain_id"}


def _target(d: Domain) -> dict[str, Any]:
    return {"target.domain.id": d.id, "target.domain": {"id": d.id}}


@endpoint(summary="List domains")
def list_domains(req: ApiRequest) -> dict[str, Any]:
    req.cloud.policy.enforce(req.context, "identity:list_domains")
    query = select(Domain).order_by(Domain.name)
    if "name" in req.query:
        query = query.where(Domain.name == req.query["name"])
    if "enabled" in req.query:
        query = query.where(Domain.enabled.is_(query_bool(req.query["enabled"])))
    with req.cloud.db.read() as session:
        items = [views.domain(d, req.base_url) for d in session.execute(query).scalars()]
    return views.collection("domains", items, str(req.request.url))


@endpoint(schema=CREATE, status=201, summary="Create a domain")
def create_domain(req: ApiRequest) -> tuple[int, dict[str, Any]]:
    req.cloud.policy.enforce(req.context, "identity:create_domain")
    ref = req.body["domain"]
    extra = {k: v for k, v in ref.items() if k not in CORE}
    try:
        with req.cloud.identity.write() as session:
            if session.execute(select(Domain.id).where(Domain.name == ref["name"])).first():
                raise Conflict(f"Conflict occurred attempting to store domain - Duplicate entry found with name {ref['name']}.")
            domain = Domain(
                name=ref["name"],
                description=ref.get("description") or "",
                enabled=ref.get("enabled", True),
                tags=ref.get("tags", []),
                extra=extra,
            )
            if ref.get("explicit_domain_id"):
                domain.id = ref["explicit_domain_id"]
            session.add(domain)
            session.flush()
            return 201, {"domain": views.domain(domain, req.base_url)}
    except IntegrityError as exc:
        raise Conflict(f"Conflict occurred attempting to store domain - Duplicate entry found with name {ref['name']}.") from exc


@endpoint(summary="Show a domain")
def get_domain(req: ApiRequest) -> dict[str, Any]:
    with req.cloud.db.read() as session:
        domain = get_or_404(session, Domain, req.path["domain_id"], "domain")
        req.cloud.policy.enforce(req.context, "identity:get_domain", _target(domain))
        return {"domain": views.domain(domain, req.base_url)}


@endpoint(schema=UPDATE, summary="Update a domain")
def update_domain(req: ApiRequest) -> dict[str, Any]:
    ref = req.body["domain"]
    try:
        with req.cloud.identity.write() as session:
            domain = get_or_404(session, Domain, req.path["domain_id"], "domain")
            req.cloud.policy.enforce(req.context, "identity:update_domain", _target(domain))
            for key in ("name", "enabled", "tags"):
                if key in ref:
                    setattr(domain, key, ref[key])
            if "description" in ref:
                domain.description = ref["description"] or ""
            domain.extra = {**(domain.extra or {}), **{k: v for k, v in ref.items() if k not in CORE}}
            session.flush()
            return {"domain": views.domain(domain, req.base_url)}
    except IntegrityError as exc:
        raise Conflict(f"Conflict occurred attempting to update domain - Duplicate entry found with name {ref.get('name')}.") from exc


@endpoint(summary="Delete a domain")
def delete_domain(req: ApiRequest) -> None:
    with req.cloud.identity.write() as session:
        domain = get_or_404(session, Domain, req.path["domain_id"], "domain")
        req.cloud.policy.enforce(req.context, "identity:delete_domain", _target(domain))
        if domain.enabled:
            raise Forbidden("Cannot delete a domain that is enabled, please disable it first.")
        project_ids = list(session.execute(select(Project.id).where(Project.domain_id == domain.id)).scalars())
        user_ids = list(session.execute(select(User.id).where(User.domain_id == domain.id)).scalars())
        group_ids = list(session.execute(select(Group.id).where(Group.domain_id == domain.id)).scalars())
        session.execute(delete(RoleAssignment).where(RoleAssignment.target_id.in_(project_ids + [domain.id])))
        session.execute(delete(RoleAssignment).where(RoleAssignment.actor_id.in_(user_ids + group_ids)))
        # Children before parents: projects reference their parent.
        for model in (User, Group):
            session.execute(delete(model).where(model.domain_id == domain.id))
        session.execute(
            Project.__table__.update().where(Project.domain_id == domain.id).values(parent_id=None)
        )
        session.execute(delete(Project).where(Project.domain_id == domain.id))
        session.delete(domain)
