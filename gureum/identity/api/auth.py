"""/v3/auth: issue, validate, check and revoke tokens; what a token may reach."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.responses import JSONResponse, Response

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import BadRequest, NotFound, Unauthorized
from gureum.identity import views
from gureum.identity.assignments import domains_with_roles, effective_roles, projects_with_roles
from gureum.identity.authn import authenticate
from gureum.identity.models import Domain, Project
from gureum.identity.service import AUTH_REQUIRED, ValidatedToken


def _subject(req: ApiRequest) -> ValidatedToken:
    token = req.headers.get("x-subject-token")
    if not token:
        raise NotFound("Could not find token: no X-Subject-Token header was given.")
    allow_expired = "allow_expired" in req.query and req.query["allow_expired"].lower() in ("1", "true", "yes")
    validated = req.cloud.identity.validate(token, allow_expired=allow_expired)
    return validated


def _target(validated: ValidatedToken) -> dict[str, Any]:
    return {"target.token.user_id": validated.context.user_id, "target.token": {"user_id": validated.context.user_id}}


@endpoint(auth=False, json_body=True, status=201, summary="Issue a token")
def issue_token(req: ApiRequest) -> Response:
    body = req.body
    if not isinstance(body, dict) or "auth" not in body:
        raise BadRequest("Invalid input for field 'auth': the body must be {'auth': {...}}.")
    address = req.request.client.host if req.request.client else ""
    identity = req.cloud.identity
    payload = authenticate(identity, body["auth"], address)
    token, validated = identity.issue(payload)
    nocatalog = "nocatalog" in req.query
    content = views.token(validated, None if nocatalog else identity.catalog(validated.context))
    return JSONResponse(content, status_code=201, headers={"X-Subject-Token": token})


@endpoint(summary="Validate a token")
def validate_token(req: ApiRequest) -> Response:
    validated = _subject(req)
    req.cloud.policy.enforce(req.context, "identity:validate_token", _target(validated))
    nocatalog = "nocatalog" in req.query
    content = views.token(validated, None if nocatalog else req.cloud.identity.catalog(validated.context))
    return JSONResponse(content, headers={"X-Subject-Token": validated.context.token})


@endpoint(summary="Check a token")
def check_token(req: ApiRequest) -> Response:
    validated = _subject(req)
    req.cloud.policy.enforce(req.context, "identity:check_token", _target(validated))
    return Response(status_code=200, headers={"X-Subject-Token": validated.context.token})


@endpoint(summary="Revoke a token")
def revoke_token(req: ApiRequest) -> None:
    validated = _subject(req)
    req.cloud.policy.enforce(req.context, "identity:revoke_token", _target(validated))
    with req.cloud.identity.write() as session:
        req.cloud.identity.revoke(session, audit_id=validated.context.audit_ids[0])


@endpoint(summary="The catalog of the caller's token")
def auth_catalog(req: ApiRequest) -> dict[str, Any]:
    if req.context.scope_type is None:
        raise Unauthorized(AUTH_REQUIRED)
    return {"catalog": req.cloud.identity.catalog(req.context), "links": {"self": str(req.request.url)}}


@endpoint(summary="Projects the caller can scope to")
def auth_projects(req: ApiRequest) -> dict[str, Any]:
    with req.cloud.db.read() as session:
        ids = projects_with_roles(session, req.context.user_id)
        rows = session.execute(select(Project).where(Project.id.in_(ids), Project.enabled.is_(True))).scalars()
        items = [views.project(p, req.base_url) for p in sorted(rows, key=lambda p: p.name)]
    return views.collection("projects", items, str(req.request.url))


@endpoint(summary="Domains the caller can scope to")
def auth_domains(req: ApiRequest) -> dict[str, Any]:
    with req.cloud.db.read() as session:
        ids = domains_with_roles(session, req.context.user_id)
        rows = session.execute(select(Domain).where(Domain.id.in_(ids), Domain.enabled.is_(True))).scalars()
        items = [views.domain(d, req.base_url) for d in sorted(rows, key=lambda d: d.name)]
    return views.collection("domains", items, str(req.request.url))


@endpoint(summary="System scopes the caller can use")
def auth_system(req: ApiRequest) -> dict[str, Any]:
    with req.cloud.db.read() as session:
        has_system = bool(effective_roles(session, req.context.user_id, "system", "system"))
    return {"system": [{"all": True}] if has_system else [], "links": {"self": str(req.request.url)}}
