"""Authentication: turn a POST /v3/auth/tokens body into a token payload.

Methods: password, token, application_credential. Every failure of a secret,
a missing user, a locked account or a throttled source answers the same 401,
so the response never tells which; the log says which, with the source address.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gureum.db.base import utcnow
from gureum.http.errors import ApiError, BadRequest, NotFound, Unauthorized
from gureum.identity import lockout as lk
from gureum.identity.models import ApplicationCredential, Domain, Project, User
from gureum.identity.service import AUTH_REQUIRED
from gureum.identity.tokens import TokenPayload, new_audit_id

if TYPE_CHECKING:
    from gureum.identity.service import IdentityService

log = logging.getLogger("gureum.identity.authn")

SUPPORTED_METHODS = ("password", "token", "application_credential")


@dataclass(frozen=True)
class Authenticated:
    user_id: str
    methods: tuple[str, ...]
    expires_at: Any = None  # a cap from a parent token or application credential
    audit_ids: tuple[str, ...] = ()
    parent_payload: TokenPayload | None = None
    application_credential: ApplicationCredential | None = None
    # Earlier failures of this account to forget, now that it logged in.
    clear_failures_key: str | None = None


def _denied(identity: "IdentityService") -> Unauthorized:
    return Unauthorized(AUTH_REQUIRED, headers=identity.www_authenticate())


def _find_domain(session: Session, ref: Any) -> Domain | None:
    if not isinstance(ref, dict):
        raise BadRequest("Invalid input for field 'domain': expected an object with 'id' or 'name'.")
    if "id" in ref:
        return session.get(Domain, str(ref["id"]))
    if "name" in ref:
        return session.execute(select(Domain).where(Domain.name == str(ref["name"]))).scalar_one_or_none()
    raise BadRequest("Invalid input for field 'domain': expected 'id' or 'name'.")


def _find_user(session: Session, ref: dict[str, Any]) -> tuple[User | None, str]:
    """The user and a label for logs and lockout keys (also for users that do not exist)."""
    if "id" in ref:
        user = session.get(User, str(ref["id"]))
        return user, f"user id {ref['id']}"
    if "name" not in ref:
        raise BadRequest("Invalid input for field 'user': expected 'id', or 'name' with 'domain'.")
    if "domain" not in ref:
        raise BadRequest("Invalid input for field 'user': a user given by name needs its 'domain'.")
    domain = _find_domain(session, ref["domain"])
    domain_label = str(ref["domain"].get("name") or ref["domain"].get("id"))
    label = f"user {ref['name']!r} in domain {domain_label!r}"
    if domain is None:
        return None, label
    user = session.execute(
        select(User).where(User.name == str(ref["name"]), User.domain_id == domain.id)
    ).scalar_one_or_none()
    return user, label


def _password(identity: "IdentityService", session: Session, body: Any, address: str) -> Authenticated:
    if not isinstance(body, dict) or not isinstance(body.get("user"), dict):
        raise BadRequest("Invalid input for field 'password': expected {'user': {...}}.")
    ref = body["user"]
    password = ref.get("password")
    if not isinstance(password, str):
        raise BadRequest("Invalid input for field 'password.user.password': expected a string.")
    user, label = _find_user(session, ref)
    if user is not None:
        label = f"user {user.name!r} ({user.id})"
        account_key = lk.user_key(user.id)
    else:
        domain_ref = ref.get("domain") or {}
        account_key = lk.unknown_user_key(str(domain_ref.get("id") or domain_ref.get("name")), str(ref.get("name") or ref.get("id")))
    locked = identity.lockout.is_locked(session, account_key) or identity.lockout.is_locked(
        session, lk.source_key(address)
    )
    ok = identity.hasher.verify(user.password_hash if user else None, password)
    if locked or not ok or user is None:
        if locked:
            log.warning("authentication refused for %s from %s: locked or throttled", label, address)
        raise _FailedLogin(account_key, label)
    if not user.enabled:
        log.warning("authentication refused for %s from %s: user disabled", label, address)
        raise _FailedLogin(account_key, label)
    stale = account_key if identity.lockout.has_failures(session, account_key) else None
    return Authenticated(user_id=user.id, methods=("password",), clear_failures_key=stale)


class _FailedLogin(Exception):
    def __init__(self, account_key: str, label: str) -> None:
        super().__init__(label)
        self.account_key = account_key
        self.label = label


def _token(identity: "IdentityService", body: Any) -> Authenticated:
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise BadRequest("Invalid input for field 'token': expected {'id': '<token>'}.")
    try:
        parent = identity.validate(body["id"])
    except NotFound as exc:
        raise _denied(identity) from exc
    payload = parent.payload
    if payload.application_credential_id:
        # keystone: a token from an application credential cannot be rescoped.
        raise _denied(identity)
    methods = tuple(dict.fromkeys(payload.methods + ("token",)))
    return Authenticated(
        user_id=payload.user_id,
        methods=methods,
        expires_at=payload.expires_at,
        audit_ids=payload.audit_ids[:1],
        parent_payload=payload,
    )


def _application_credential(identity: "IdentityService", session: Session, body: Any, address: str) -> Authenticated:
    if not isinstance(body, dict) or not isinstance(body.get("secret"), str):
        raise BadRequest("Invalid input for field 'application_credential': expected 'secret' and 'id' or 'name'.")
    if "id" in body:
        cred = session.get(ApplicationCredential, str(body["id"]))
        label = f"application credential {body['id']}"
    elif "name" in body and isinstance(body.get("user"), dict):
        user, label = _find_user(session, body["user"])
        cred = None
        if user is not None:
            cred = session.execute(
                select(ApplicationCredential).where(
                    ApplicationCredential.user_id == user.id, ApplicationCredential.name == str(body["name"])
                )
            ).scalar_one_or_none()
        label = f"application credential {body['name']!r} of {label}"
    else:
        raise BadRequest("Invalid input for field 'application_credential': give 'id', or 'name' with 'user'.")
    account_key = f"appcred:{cred.id if cred else label}"
    ok = identity.hasher.verify(cred.secret_hash if cred else None, body["secret"])
    if cred is None or not ok or identity.lockout.is_locked(session, lk.source_key(address)):
        raise _FailedLogin(account_key, label)
    if cred.expires_at and cred.expires_at <= utcnow():
        raise _FailedLogin(account_key, label + " (expired)")
    user = session.get(User, cred.user_id)
    if user is None or not user.enabled:
        raise _FailedLogin(account_key, label + " (user disabled)")
    return Authenticated(
        user_id=cred.user_id,
        methods=("application_credential",),
        expires_at=cred.expires_at,
        application_credential=cred,
    )


def _resolve_scope(identity: "IdentityService", session: Session, auth: dict[str, Any], who: Authenticated) -> dict[str, Any]:
    """Scope fields of the payload; the user must hold a role there."""
    denied = _denied(identity)
    if who.application_credential is not None:
        if auth.get("scope") not in (None, {}) and not _scope_is_project(session, auth.get("scope"), who.application_credential.project_id):
            raise denied
        return {"project_id": who.application_credential.project_id}
    scope = auth.get("scope")
    if scope is None:
        if who.parent_payload is not None:
            parent = who.parent_payload
            return {"project_id": parent.project_id, "domain_id": parent.domain_id, "system": parent.system}
        user = session.get(User, who.user_id)
        if user and user.default_project_id:
            project = session.get(Project, user.default_project_id)
            if project and project.enabled and identity.roles_for(session, user.id, "project", project.id):
                return {"project_id": project.id}
        return {}
    if scope == "unscoped":
        return {}
    if not isinstance(scope, dict) or len(scope) != 1:
        raise BadRequest("Invalid input for field 'scope': give exactly one of 'project', 'domain' or 'system'.")
    if "project" in scope:
        project = _find_project(session, scope["project"])
        if project is None or not project.enabled:
            raise denied
        domain = session.get(Domain, project.domain_id)
        if domain is None or not domain.enabled or not identity.roles_for(session, who.user_id, "project", project.id):
            raise denied
        return {"project_id": project.id}
    if "domain" in scope:
        domain = _find_domain(session, scope["domain"])
        if domain is None or not domain.enabled or not identity.roles_for(session, who.user_id, "domain", domain.id):
            raise denied
        return {"domain_id": domain.id}
    if "system" in scope:
        if scope["system"] != {"all": True}:
            raise BadRequest("Invalid input for field 'scope.system': expected {'all': true}.")
        if not identity.roles_for(session, who.user_id, "system", "system"):
            raise denied
        return {"system": "all"}
    if "OS-TRUST:trust" in scope:
        raise ApiError("Trusts are not supported by gureum.", status=501)
    raise BadRequest("Invalid input for field 'scope': give 'project', 'domain' or 'system'.")


def _scope_is_project(session: Session, scope: Any, project_id: str) -> bool:
    if not isinstance(scope, dict) or "project" not in scope:
        return False
    project = _find_project(session, scope["project"])
    return project is not None and project.id == project_id


def _find_project(session: Session, ref: Any) -> Project | None:
    if not isinstance(ref, dict):
        raise BadRequest("Invalid input for field 'scope.project': expected an object.")
    if "id" in ref:
        return session.get(Project, str(ref["id"]))
    if "name" in ref:
        if "domain" not in ref:
            raise BadRequest("Invalid input for field 'scope.project': a project given by name needs its 'domain'.")
        domain = _find_domain(session, ref["domain"])
        if domain is None:
            return None
        return session.execute(
            select(Project).where(Project.name == str(ref["name"]), Project.domain_id == domain.id)
        ).scalar_one_or_none()
    raise BadRequest("Invalid input for field 'scope.project': expected 'id' or 'name'.")


def authenticate(identity: "IdentityService", auth: Any, address: str) -> TokenPayload:
    if not isinstance(auth, dict) or not isinstance(auth.get("identity"), dict):
        raise BadRequest("Invalid input for field 'auth': expected {'auth': {'identity': {...}}}.")
    ident = auth["identity"]
    methods = ident.get("methods")
    if not isinstance(methods, list) or not methods or not all(isinstance(m, str) for m in methods):
        raise BadRequest("Invalid input for field 'identity.methods': expected a non-empty list of method names.")
    method = methods[0]
    if len(set(methods)) > 1 or method not in SUPPORTED_METHODS:
        raise Unauthorized(
            f"Unsupported authentication method(s): {', '.join(methods)}; use one of {', '.join(SUPPORTED_METHODS)}.",
            headers=identity.www_authenticate(),
        )
    if method not in ident:
        raise BadRequest(f"Invalid input for field 'identity.{method}': missing.")
    try:
        # Read-only: the slow hash must not hold the database's write lock.
        with identity.cloud.db.read() as session:
            if method == "password":
                who = _password(identity, session, ident[method], address)
            elif method == "token":
                who = _token(identity, ident[method])
            else:
                who = _application_credential(identity, session, ident[method], address)
            scope = _resolve_scope(identity, session, auth, who)
    except _FailedLogin as failed:
        with identity.cloud.db.session() as session:
            identity.lockout.record_failure(session, failed.account_key, failed.label, address)
        raise _denied(identity) from None
    if who.clear_failures_key:
        with identity.cloud.db.session() as session:
            identity.lockout.record_success(session, who.clear_failures_key)
    now = utcnow()
    expires_at = now + timedelta(seconds=identity.cloud.settings.token_lifetime_seconds)
    if who.expires_at is not None and who.expires_at < expires_at:
        expires_at = who.expires_at
    return TokenPayload(
        user_id=who.user_id,
        methods=who.methods,
        issued_at=now,
        expires_at=expires_at,
        audit_ids=(new_audit_id(),) + who.audit_ids,
        project_id=scope.get("project_id"),
        domain_id=scope.get("domain_id"),
        system=scope.get("system"),
        application_credential_id=who.application_credential.id if who.application_credential else None,
    )
