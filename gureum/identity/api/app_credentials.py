"""/v3/users/{user_id}/application_credentials.

An application credential lets a program authenticate as its user, on one
project, with some of the user's roles there. The secret is shown once, at
creation, and kept only as a hash. Authentication with it lives in authn.py;
a token from it carries at most its roles (service.py filters them).

Access rules are not implemented: an empty list is accepted (the CLI always
sends one), anything else is refused with a 400 that says so.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute, Route

from gureum.db.base import utcnow
from gureum.http.context import RequestContext
from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import BadRequest, Conflict, Forbidden, NotFound
from gureum.identity import views
from gureum.identity.api.common import NAME
from gureum.identity.assignments import expand_implied
from gureum.identity.models import ApplicationCredential, Role

ROLE_REF = {
    "type": "object",
    "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 64}, "name": NAME},
    "minProperties": 1,
    "maxProperties": 1,
    "additionalProperties": False,
}
CREATE = {
    "type": "object",
    "properties": {
        "application_credential": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "name": NAME,
                "description": {"type": ["string", "null"], "maxLength": 65535},
                "secret": {"type": ["string", "null"], "maxLength": 4096},
                "expires_at": {"type": ["string", "null"]},
                "project_id": {"type": "string"},
                "roles": {"type": "array", "items": ROLE_REF},
                "unrestricted": {"type": ["boolean", "null"]},
                "access_rules": {"type": "array", "items": {"type": "object"}},
                "system": {"type": ["string", "null"]},
            },
            "required": ["name"],
            "additionalProperties": False,
        }
    },
    "required": ["application_credential"],
    "additionalProperties": False,
}

# keystone's wording for the two timestamp failures.
NOT_COMPLY = (
    " The server could not comply with the request since it is either malformed or otherwise incorrect."
    " The client is assumed to be in error."
)
BAD_TIMESTAMP = "Timestamp not in expected format." + NOT_COMPLY
PAST_TIMESTAMP = "The 'expires_at' must not be before now." + NOT_COMPLY


def _keystone_time(when: datetime | None) -> str | None:
    """Application credentials show expires_at the way keystone serializes datetimes: no Z."""
    if when is None:
        return None
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _role_view(r: Role) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "domain_id": r.domain_id or None,
        "description": r.description or None,
        "options": dict(r.options or {}),
    }


def _view(cred: ApplicationCredential, roles: dict[str, Role], base: str, secret: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": cred.id,
        "name": cred.name,
        "description": cred.description or None,
        "user_id": cred.user_id,
        "project_id": cred.project_id,
        "system": None,
        "expires_at": _keystone_time(cred.expires_at),
        "unrestricted": bool(cred.unrestricted),
        "roles": [_role_view(roles[i]) for i in cred.role_ids if i in roles],
        "links": {"self": f"{base}/v3/users/{cred.user_id}/application_credentials/{cred.id}"},
    }
    if cred.access_rules:
        body["access_rules"] = list(cred.access_rules)
    if secret is not None:
        body["secret"] = secret
    return body


def _roles_by_id(session: Session, creds: list[ApplicationCredential]) -> dict[str, Role]:
    ids = {i for c in creds for i in c.role_ids}
    if not ids:
        return {}
    return {r.id: r for r in session.execute(select(Role).where(Role.id.in_(ids))).scalars()}


def _not_found(cred_id: str) -> NotFound:
    return NotFound(f"Could not find Application Credential: {cred_id}.")


def refuse_restricted(session: Session, ctx: RequestContext, what: str) -> None:
    """keystone: a token from a restricted application credential cannot manage credentials."""
    if not ctx.application_credential_id and "application_credential" not in ctx.methods:
        return
    cred = session.get(ApplicationCredential, ctx.application_credential_id) if ctx.application_credential_id else None
    if cred is None or not cred.unrestricted:
        raise Forbidden(
            "You are not authorized to perform the requested action: Using method 'application_credential' "
            f"is not allowed for managing additional {what}."
        )


def generate_secret() -> str:
    """64 random bytes, URL-safe base64 without padding, as keystone makes them."""
    return base64.urlsafe_b64encode(secrets.token_bytes(64)).rstrip(b"=").decode()


def _parse_expiry(value: str) -> datetime:
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadRequest(BAD_TIMESTAMP) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    if when <= utcnow():
        raise BadRequest(PAST_TIMESTAMP)
    return when


def _requested_roles(session: Session, ctx: RequestContext, refs: list[dict[str, str]] | None) -> list[str]:
    """The roles asked for (with what they imply), all of which the caller's token must hold."""
    token_roles = list(ctx.role_ids)
    if not refs:
        return token_roles
    role_ids: list[str] = []
    for ref in refs:
        if "id" in ref:
            role_ids.append(ref["id"])
            continue
        found = list(session.execute(select(Role.id).where(Role.name == ref["name"])).scalars())
        if not found:
            raise NotFound(f"Role {ref['name']} is not defined")
        if len(found) > 1:
            raise BadRequest(
                f"There are multiple role entities named '{ref['name']}'. "
                "Please use ID instead of names to resolve the ambiguity."
            )
        role_ids.append(found[0])
    wanted = list(dict.fromkeys(role_ids))
    for implied in sorted(expand_implied(session, wanted) - set(wanted)):
        wanted.append(implied)
    held = set(token_roles)
    if any(r not in held for r in wanted):
        raise BadRequest("Invalid application credential: Cannot create an application credential with unassigned role")
    return wanted


def _duplicate(name: str) -> Conflict:
    return Conflict(f"Conflict occurred attempting to store application_credential - Duplicate entry found with name {name}.")


@endpoint(schema=CREATE, status=201, summary="Create an application credential")
def create_application_credential(req: ApiRequest) -> tuple[int, dict[str, Any]]:
    ctx = req.context
    user_id = req.path["user_id"]
    ref = req.body["application_credential"]
    req.cloud.policy.enforce(ctx, "identity:create_application_credential", {"user_id": user_id})
    with req.cloud.db.read() as session:
        refuse_restricted(session, ctx, "application credentials")
    if ctx.user_id != user_id:
        raise Forbidden(
            "You are not authorized to perform the requested action: "
            "Cannot create an application credential for another user."
        )
    if not ctx.project_id:
        # keystone's scope_types=['project']: the credential is bound to the token's project.
        raise Forbidden("You are not authorized to perform the requested action: identity:create_application_credential.")
    if ref.get("access_rules"):
        raise BadRequest(
            "Invalid input for field 'access_rules': gureum does not implement access rules yet; "
            "omit them (or send an empty list) and restrict the credential with roles."
        )
    if ref.get("system"):
        raise BadRequest("Invalid input for field 'system': system-scoped application credentials are not supported.")
    if ref.get("project_id") not in (None, ctx.project_id):
        raise BadRequest("Invalid input for field 'project_id': it must be the project of the token making the request.")
    expires_at = _parse_expiry(ref["expires_at"]) if ref.get("expires_at") else None
    secret = ref.get("secret") or generate_secret()
    secret_hash = req.cloud.identity.hasher.hash(secret)
    name = ref["name"]
    try:
        with req.cloud.identity.write() as session:
            role_ids = _requested_roles(session, ctx, ref.get("roles"))
            exists = session.execute(
                select(ApplicationCredential.id).where(
                    ApplicationCredential.user_id == user_id, ApplicationCredential.name == name
                )
            ).first()
            if exists:
                raise _duplicate(name)
            cred = ApplicationCredential(
                name=name,
                user_id=user_id,
                project_id=ctx.project_id,
                secret_hash=secret_hash,
                description=ref.get("description") or "",
                expires_at=expires_at,
                unrestricted=bool(ref.get("unrestricted")),
                role_ids=role_ids,
                access_rules=[],
            )
            session.add(cred)
            session.flush()
            body = _view(cred, _roles_by_id(session, [cred]), req.base_url, secret=secret)
            return 201, {"application_credential": body}
    except IntegrityError as exc:
        raise _duplicate(name) from exc


@endpoint(summary="List a user's application credentials")
def list_application_credentials(req: ApiRequest) -> dict[str, Any]:
    user_id = req.path["user_id"]
    req.cloud.policy.enforce(req.context, "identity:list_application_credentials", {"user_id": user_id})
    query = select(ApplicationCredential).where(ApplicationCredential.user_id == user_id)
    if "name" in req.query:
        query = query.where(ApplicationCredential.name == req.query["name"])
    with req.cloud.db.read() as session:
        creds = list(session.execute(query.order_by(ApplicationCredential.name)).scalars())
        roles = _roles_by_id(session, creds)
        items = [_view(c, roles, req.base_url) for c in creds]
    return views.collection("application_credentials", items, str(req.request.url))


def _owned(req: ApiRequest, session: Session, action: str) -> ApplicationCredential:
    """The credential named in the path; policy judges its real owner, not the path's user."""
    cred_id = req.path["application_credential_id"]
    cred = session.get(ApplicationCredential, cred_id)
    owner = cred.user_id if cred is not None else req.path["user_id"]
    req.cloud.policy.enforce(req.context, action, {"user_id": owner})
    if cred is None or cred.user_id != req.path["user_id"]:
        raise _not_found(cred_id)
    return cred


@endpoint(summary="Show an application credential")
def get_application_credential(req: ApiRequest) -> dict[str, Any]:
    with req.cloud.db.read() as session:
        cred = _owned(req, session, "identity:get_application_credential")
        return {"application_credential": _view(cred, _roles_by_id(session, [cred]), req.base_url)}


@endpoint(summary="Delete an application credential")
def delete_application_credential(req: ApiRequest) -> None:
    identity = req.cloud.identity
    with identity.write() as session:
        cred = _owned(req, session, "identity:delete_application_credential")
        refuse_restricted(session, req.context, "application credentials")
        identity.revoke(session, application_credential_id=cred.id)
        session.delete(cred)


def routes() -> list[BaseRoute]:
    base = "/v3/users/{user_id}/application_credentials"
    return [
        Route(base, list_application_credentials, methods=["GET"]),
        Route(base, create_application_credential, methods=["POST"]),
        Route(base + "/{application_credential_id}", get_application_credential, methods=["GET"]),
        Route(base + "/{application_credential_id}", delete_application_credential, methods=["DELETE"]),
    ]
