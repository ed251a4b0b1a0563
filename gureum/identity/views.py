"""The exact JSON keystone answers with."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gureum.identity.models import Domain, Group, Project, Role, User
from gureum.identity.service import ValidatedToken


def iso(when: datetime | None) -> str | None:
    """Keystone's timestamps: microseconds and a Z."""
    if when is None:
        return None
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def collection(name: str, items: list[dict[str, Any]], self_url: str) -> dict[str, Any]:
    return {name: items, "links": {"self": self_url, "previous": None, "next": None}}


def domain(d: Domain, base: str) -> dict[str, Any]:
    return {
        "id": d.id,
        "name": d.name,
        "description": d.description,
        "enabled": d.enabled,
        "tags": list(d.tags or []),
        "options": {},
        "links": {"self": f"{base}/v3/domains/{d.id}"},
        **(d.extra or {}),
    }


def project(p: Project, base: str) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "domain_id": p.domain_id,
        "description": p.description,
        "enabled": p.enabled,
        # keystone: a top-level project's parent is its domain.
        "parent_id": p.parent_id or p.domain_id,
        "is_domain": False,
        "tags": list(p.tags or []),
        "options": {},
        "links": {"self": f"{base}/v3/projects/{p.id}"},
        **(p.extra or {}),
    }


def user(u: User, base: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": u.id,
        "name": u.name,
        "domain_id": u.domain_id,
        "enabled": u.enabled,
        "password_expires_at": iso(u.password_expires_at),
        "options": dict(u.options or {}),
        "links": {"self": f"{base}/v3/users/{u.id}"},
    }
    if u.default_project_id:
        body["default_project_id"] = u.default_project_id
    if u.description:
        body["description"] = u.description
    if u.email is not None:
        body["email"] = u.email
    body.update(u.extra or {})
    return body


def group(g: Group, base: str) -> dict[str, Any]:
    return {
        "id": g.id,
        "name": g.name,
        "domain_id": g.domain_id,
        "description": g.description,
        "links": {"self": f"{base}/v3/groups/{g.id}"},
        **(g.extra or {}),
    }


def role(r: Role, base: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": r.id,
        "name": r.name,
        "domain_id": r.domain_id or None,
        "description": r.description or None,
        "options": dict(r.options or {}),
        "links": {"self": f"{base}/v3/roles/{r.id}"},
    }
    body.update(r.extra or {})
    return body


def role_ref(r: Role, base: str) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "domain_id": r.domain_id or None, "links": {"self": f"{base}/v3/roles/{r.id}"}}


def token(v: ValidatedToken, catalog: list[dict[str, Any]] | None) -> dict[str, Any]:
    ctx = v.context
    body: dict[str, Any] = {
        "methods": list(ctx.methods),
        "user": {
            "domain": {"id": ctx.user_domain_id, "name": ctx.user_domain_name},
            "id": ctx.user_id,
            "name": ctx.user_name,
            "password_expires_at": iso(v.password_expires_at),
        },
        "audit_ids": list(ctx.audit_ids),
        "expires_at": iso(ctx.expires_at),
        "issued_at": iso(ctx.issued_at),
    }
    if ctx.project_id:
        body["project"] = {
            "domain": {"id": ctx.project_domain_id, "name": ctx.project_domain_name},
            "id": ctx.project_id,
            "name": ctx.project_name,
        }
        body["is_domain"] = False
    elif ctx.domain_id:
        body["domain"] = {"id": ctx.domain_id, "name": ctx.domain_name}
    elif ctx.system_scope:
        body["system"] = {ctx.system_scope: True}
    if ctx.scope_type:
        body["roles"] = v.roles
        if catalog is not None:
            body["catalog"] = catalog
    if ctx.application_credential_id:
        body["application_credential"] = {
            "id": ctx.application_credential_id,
            "name": v.application_credential_name,
            "restricted": v.application_credential_restricted,
        }
    return {"token": body}
