"""Unified limits: /v3/registered_limits, /v3/limits and /v3/limits/model.

A registered limit is a service's default for a resource (image_count_total
for glance, say); a limit overrides it for one project or domain. Services read
them through `IdentityService.limit_for`, which the revision bump of every write
here keeps fresh. The enforcement model is keystone's "flat": project hierarchy
plays no part.

Where keystone keeps NULL for "no region" or "no description", the tables keep
'' (it keeps the unique constraints working); the views turn '' back into null.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute, Route

from gureum.http.context import RequestContext
from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import BadRequest, Conflict, Forbidden, NotFound
from gureum.identity import views
from gureum.identity.models import Domain, Project, ProjectLimit, Region, RegisteredLimit, Service

MODEL = {
    "name": "flat",
    "description": "Limit enforcement and validation does not take project hierarchy into consideration.",
}

LIMIT_INTEGER = {"type": "integer", "minimum": -1, "maximum": 0x7FFFFFFF}
RESOURCE_NAME = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"[\S]+"}
REGION_ID = {"type": ["string", "null"], "minLength": 1, "maxLength": 255}
LIMIT_DESCRIPTION = {"type": ["string", "null"], "maxLength": 255}
SCOPE_ID = {"type": ["string", "null"], "minLength": 1, "maxLength": 64, "pattern": r"^[a-zA-Z0-9-]+$"}
SERVICE_ID = {"type": "string", "minLength": 1, "maxLength": 64}

REGISTERED_PROPERTIES = {
    "service_id": SERVICE_ID,
    "region_id": REGION_ID,
    "resource_name": RESOURCE_NAME,
    "default_limit": LIMIT_INTEGER,
    "description": LIMIT_DESCRIPTION,
}
REGISTERED_CREATE = {
    "type": "object",
    "properties": {
        "registered_limits": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": REGISTERED_PROPERTIES,
                "required": ["service_id", "resource_name", "default_limit"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["registered_limits"],
    "additionalProperties": False,
}
REGISTERED_UPDATE = {
    "type": "object",
    "properties": {
        "registered_limit": {
            "type": "object",
            "properties": {**REGISTERED_PROPERTIES, "id": {"type": "string"}},
            "additionalProperties": False,
        }
    },
    "required": ["registered_limit"],
    "additionalProperties": False,
}
LIMIT_CREATE = {
    "type": "object",
    "properties": {
        "limits": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "project_id": SCOPE_ID,
                    "domain_id": SCOPE_ID,
                    "service_id": SERVICE_ID,
                    "region_id": REGION_ID,
                    "resource_name": RESOURCE_NAME,
                    "resource_limit": LIMIT_INTEGER,
                    "description": LIMIT_DESCRIPTION,
                },
                "required": ["service_id", "resource_name", "resource_limit"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["limits"],
    "additionalProperties": False,
}
LIMIT_UPDATE = {
    "type": "object",
    "properties": {
        "limit": {
            "type": "object",
            "properties": {"resource_limit": LIMIT_INTEGER, "description": LIMIT_DESCRIPTION, "id": {"type": "string"}},
            "additionalProperties": False,
        }
    },
    "required": ["limit"],
    "additionalProperties": False,
}

NOT_COMPLY = (
    " The server could not comply with the request since it is either malformed or otherwise incorrect."
    " The client is assumed to be in error."
)


def _missing(attribute: str, target: str) -> BadRequest:
    """keystone's ValidationError, as it answers for an unknown service, region, project or domain."""
    return BadRequest(f"Expecting to find {attribute} in {target}." + NOT_COMPLY)


def _conflict(kind: str) -> Conflict:
    return Conflict(f"Conflict occurred attempting to store {kind} - Duplicate entry.")


def registered_limit_view(r: RegisteredLimit, base: str) -> dict[str, Any]:
    return {
        "id": r.id,
        "service_id": r.service_id,
        "region_id": r.region_id or None,
        "resource_name": r.resource_name,
        "default_limit": r.default_limit,
        "description": r.description or None,
        "links": {"self": f"{base}/v3/registered_limits/{r.id}"},
    }


def limit_view(limit: ProjectLimit, base: str) -> dict[str, Any]:
    return {
        "id": limit.id,
        "project_id": limit.project_id or None,
        "domain_id": limit.domain_id or None,
        "service_id": limit.service_id,
        "region_id": limit.region_id or None,
        "resource_name": limit.resource_name,
        "resource_limit": limit.resource_limit,
        "description": limit.description or None,
        "links": {"self": f"{base}/v3/limits/{limit.id}"},
    }


def _assert_exist(session: Session, ref: dict[str, Any], target: str) -> None:
    if ref.get("service_id") is not None and session.get(Service, ref["service_id"]) is None:
        raise _missing("service_id", target)
    if ref.get("region_id") is not None and session.get(Region, ref["region_id"]) is None:
        raise _missing("region_id", target)
    if ref.get("project_id") is not None and session.get(Project, ref["project_id"]) is None:
        raise _missing("project_id", target)
    if ref.get("domain_id") is not None and session.get(Domain, ref["domain_id"]) is None:
        raise _missing("domain_id", target)


def _registered_match(session: Session, service_id: str, region_id: str, resource_name: str) -> RegisteredLimit | None:
    return session.execute(
        select(RegisteredLimit).where(
            RegisteredLimit.service_id == service_id,
            RegisteredLimit.region_id == region_id,
            RegisteredLimit.resource_name == resource_name,
        )
    ).scalars().first()


def _registered_for_limit(session: Session, ref: dict[str, Any]) -> RegisteredLimit | None:
    """The registered limit a new limit overrides.

    keystone matches the region exactly, so `limit create` without --region fails
    against a registered limit made with --region RegionOne. When the region is
    left out and exactly one region has a registered limit for the resource, the
    limit is taken to override that one (and shows that region): it only turns
    keystone's 403 into what the operator meant; given regions still match exactly.
    """
    region_id = ref.get("region_id") or ""
    found = _registered_match(session, ref["service_id"], region_id, ref["resource_name"])
    if found is not None or region_id:
        return found
    candidates = list(
        session.execute(
            select(RegisteredLimit).where(
                RegisteredLimit.service_id == ref["service_id"],
                RegisteredLimit.resource_name == ref["resource_name"],
            )
        ).scalars()
    )
    return candidates[0] if len(candidates) == 1 else None


def _limits_referencing(session: Session, r: RegisteredLimit) -> bool:
    return session.execute(
        select(ProjectLimit.id).where(
            ProjectLimit.service_id == r.service_id,
            ProjectLimit.region_id == r.region_id,
            ProjectLimit.resource_name == r.resource_name,
        )
    ).first() is not None


def _referenced(r: RegisteredLimit) -> Forbidden:
    return Forbidden(
        f"Unable to update or delete registered limit {r.id} because there are project limits associated with it."
    )


# -- registered limits ----------------------------------------------------------------


@endpoint(summary="List registered limits")
def list_registered_limits(req: ApiRequest) -> dict[str, Any]:
    req.cloud.policy.enforce(req.context, "identity:list_registered_limits")
    query = select(RegisteredLimit).order_by(RegisteredLimit.resource_name, RegisteredLimit.id)
    for key in ("service_id", "region_id", "resource_name"):
        if key in req.query:
            query = query.where(getattr(RegisteredLimit, key) == req.query[key])
    with req.cloud.db.read() as session:
        items = [registered_limit_view(r, req.base_url) for r in session.execute(query).scalars()]
    return views.collection("registered_limits", items, str(req.request.url))


@endpoint(schema=REGISTERED_CREATE, status=201, summary="Create registered limits")
def create_registered_limits(req: ApiRequest) -> tuple[int, dict[str, Any]]:
    req.cloud.policy.enforce(req.context, "identity:create_registered_limits")
    refs = req.body["registered_limits"]
    try:
        with req.cloud.identity.write() as session:
            for ref in refs:
                _assert_exist(session, ref, "registered_limit")
            created = []
            for ref in refs:
                region_id = ref.get("region_id") or ""
                if _registered_match(session, ref["service_id"], region_id, ref["resource_name"]) is not None:
                    raise _conflict("registered_limit")
                row = RegisteredLimit(
                    service_id=ref["service_id"],
                    region_id=region_id,
                    resource_name=ref["resource_name"],
                    default_limit=ref["default_limit"],
                    description=ref.get("description") or "",
                )
                session.add(row)
                session.flush()
                created.append(row)
            return 201, {"registered_limits": [registered_limit_view(r, req.base_url) for r in created]}
    except IntegrityError as exc:
        raise _conflict("registered_limit") from exc


@endpoint(summary="Show a registered limit")
def get_registered_limit(req: ApiRequest) -> dict[str, Any]:
    req.cloud.policy.enforce(req.context, "identity:get_registered_limit")
    with req.cloud.db.read() as session:
        row = session.get(RegisteredLimit, req.path["registered_limit_id"])
        if row is None:
            raise NotFound(f"Could not find registered limit for {req.path['registered_limit_id']}.")
        return {"registered_limit": registered_limit_view(row, req.base_url)}


@endpoint(schema=REGISTERED_UPDATE, summary="Update a registered limit")
def update_registered_limit(req: ApiRequest) -> dict[str, Any]:
    req.cloud.policy.enforce(req.context, "identity:update_registered_limit")
    ref = req.body["registered_limit"]
    limit_id = req.path["registered_limit_id"]
    if ref.get("id") is not None and ref["id"] != limit_id:
        raise BadRequest("Cannot change ID")
    try:
        with req.cloud.identity.write() as session:
            _assert_exist(session, ref, "registered_limit")
            row = session.get(RegisteredLimit, limit_id)
            if row is None:
                raise NotFound(f"Could not find registered limit for {limit_id}.")
            if _limits_referencing(session, row):
                raise _referenced(row)
            service_id = ref.get("service_id") or row.service_id
            region_id = (ref.get("region_id") or "") if "region_id" in ref else row.region_id
            resource_name = ref.get("resource_name") or row.resource_name
            if (service_id, region_id, resource_name) != (row.service_id, row.region_id, row.resource_name):
                other = _registered_match(session, service_id, region_id, resource_name)
                if other is not None and other.id != row.id:
                    raise _conflict("registered_limit")
            row.service_id, row.region_id, row.resource_name = service_id, region_id, resource_name
            if "default_limit" in ref:
                row.default_limit = ref["default_limit"]
            if "description" in ref:
                row.description = ref["description"] or ""
            session.flush()
            return {"registered_limit": registered_limit_view(row, req.base_url)}
    except IntegrityError as exc:
        raise _conflict("registered_limit") from exc


@endpoint(summary="Delete a registered limit")
def delete_registered_limit(req: ApiRequest) -> None:
    req.cloud.policy.enforce(req.context, "identity:delete_registered_limit")
    with req.cloud.identity.write() as session:
        row = session.get(RegisteredLimit, req.path["registered_limit_id"])
        if row is None:
            raise NotFound(f"Could not find registered limit for {req.path['registered_limit_id']}.")
        if _limits_referencing(session, row):
            raise _referenced(row)
        session.delete(row)


# -- project and domain limits ----------------------------------------------------------


def _sees_every_limit(ctx: RequestContext) -> bool:
    roles = {r.lower() for r in ctx.roles}
    return bool(ctx.system_scope) or "admin" in roles or "service" in roles


@endpoint(summary="List limits")
def list_limits(req: ApiRequest) -> dict[str, Any]:
    ctx = req.context
    req.cloud.policy.enforce(ctx, "identity:list_limits")
    query = select(ProjectLimit).order_by(ProjectLimit.resource_name, ProjectLimit.id)
    for key in ("service_id", "region_id", "resource_name", "project_id", "domain_id"):
        if key in req.query:
            query = query.where(getattr(ProjectLimit, key) == req.query[key])
    with req.cloud.db.read() as session:
        if _sees_every_limit(ctx):
            pass
        elif ctx.domain_id:
            # keystone: a domain-scoped token sees its domain's limit and its projects' limits.
            projects = select(Project.id).where(Project.domain_id == ctx.domain_id)
            query = query.where((ProjectLimit.domain_id == ctx.domain_id) | ProjectLimit.project_id.in_(projects))
        elif ctx.project_id:
            query = query.where(ProjectLimit.project_id == ctx.project_id)
        else:
            return views.collection("limits", [], str(req.request.url))
        items = [limit_view(limit, req.base_url) for limit in session.execute(query).scalars()]
    return views.collection("limits", items, str(req.request.url))


@endpoint(schema=LIMIT_CREATE, status=201, summary="Create limits")
def create_limits(req: ApiRequest) -> tuple[int, dict[str, Any]]:
    req.cloud.policy.enforce(req.context, "identity:create_limits")
    refs = req.body["limits"]
    for ref in refs:
        if bool(ref.get("project_id")) == bool(ref.get("domain_id")):
            raise BadRequest("Invalid input for field 'limits': each limit needs exactly one of project_id or domain_id.")
    try:
        with req.cloud.identity.write() as session:
            for ref in refs:
                _assert_exist(session, ref, "limit")
            created = []
            for ref in refs:
                registered = _registered_for_limit(session, ref)
                if registered is None:
                    raise Forbidden("Unable to create a limit that has no corresponding registered limit.")
                region_id = registered.region_id
                project_id, domain_id = ref.get("project_id") or "", ref.get("domain_id") or ""
                duplicate = session.execute(
                    select(ProjectLimit.id).where(
                        ProjectLimit.project_id == project_id,
                        ProjectLimit.domain_id == domain_id,
                        ProjectLimit.service_id == ref["service_id"],
                        ProjectLimit.region_id == region_id,
                        ProjectLimit.resource_name == ref["resource_name"],
                    )
                ).first()
                if duplicate:
                    raise _conflict("limit")
                row = ProjectLimit(
                    project_id=project_id,
                    domain_id=domain_id,
                    service_id=ref["service_id"],
                    region_id=region_id,
                    resource_name=ref["resource_name"],
                    resource_limit=ref["resource_limit"],
                    description=ref.get("description") or "",
                )
                session.add(row)
                session.flush()
                created.append(row)
            return 201, {"limits": [limit_view(limit, req.base_url) for limit in created]}
    except IntegrityError as exc:
        raise _conflict("limit") from exc


def _limit_target(session: Session, limit: ProjectLimit) -> dict[str, Any]:
    target: dict[str, Any] = {"target.limit.id": limit.id, "target.limit.project_id": limit.project_id or None}
    if limit.project_id:
        project = session.get(Project, limit.project_id)
        target["target.limit.project.domain_id"] = project.domain_id if project else None
    if limit.domain_id:
        target["target.limit.domain.id"] = limit.domain_id
    return target


@endpoint(summary="Show a limit")
def get_limit(req: ApiRequest) -> dict[str, Any]:
    with req.cloud.db.read() as session:
        limit = session.get(ProjectLimit, req.path["limit_id"])
        req.cloud.policy.enforce(req.context, "identity:get_limit", _limit_target(session, limit) if limit else {})
        if limit is None:
            raise NotFound(f"Could not find limit for {req.path['limit_id']}.")
        return {"limit": limit_view(limit, req.base_url)}


@endpoint(schema=LIMIT_UPDATE, summary="Update a limit")
def update_limit(req: ApiRequest) -> dict[str, Any]:
    req.cloud.policy.enforce(req.context, "identity:update_limit")
    ref = req.body["limit"]
    limit_id = req.path["limit_id"]
    if ref.get("id") is not None and ref["id"] != limit_id:
        raise BadRequest("Cannot change ID")
    with req.cloud.identity.write() as session:
        limit = session.get(ProjectLimit, limit_id)
        if limit is None:
            raise NotFound(f"Could not find limit for {limit_id}.")
        if "resource_limit" in ref:
            limit.resource_limit = ref["resource_limit"]
        if "description" in ref:
            limit.description = ref["description"] or ""
        session.flush()
        return {"limit": limit_view(limit, req.base_url)}


@endpoint(summary="Delete a limit")
def delete_limit(req: ApiRequest) -> None:
    req.cloud.policy.enforce(req.context, "identity:delete_limit")
    with req.cloud.identity.write() as session:
        limit = session.get(ProjectLimit, req.path["limit_id"])
        if limit is None:
            raise NotFound(f"Could not find limit for {req.path['limit_id']}.")
        session.delete(limit)


@endpoint(summary="The limit enforcement model")
def get_limit_model(req: ApiRequest) -> dict[str, Any]:
    req.cloud.policy.enforce(req.context, "identity:get_limit_model")
    return {"model": dict(MODEL)}


def routes() -> list[BaseRoute]:
    return [
        Route("/v3/registered_limits", list_registered_limits, methods=["GET"]),
        Route("/v3/registered_limits", create_registered_limits, methods=["POST"]),
        Route("/v3/registered_limits/{registered_limit_id}", get_registered_limit, methods=["GET"]),
        Route("/v3/registered_limits/{registered_limit_id}", update_registered_limit, methods=["PATCH"]),
        Route("/v3/registered_limits/{registered_limit_id}", delete_registered_limit, methods=["DELETE"]),
        # Before /v3/limits/{limit_id}, which would otherwise take "model" for an id.
        Route("/v3/limits/model", get_limit_model, methods=["GET"]),
        Route("/v3/limits", list_limits, methods=["GET"]),
        Route("/v3/limits", create_limits, methods=["POST"]),
        Route("/v3/limits/{limit_id}", get_limit, methods=["GET"]),
        Route("/v3/limits/{limit_id}", update_limit, methods=["PATCH"]),
        Route("/v3/limits/{limit_id}", delete_limit, methods=["DELETE"]),
    ]
