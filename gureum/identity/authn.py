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
class AppCredRef:
    """The application credential a login used (plain values: it outlives the session it was read in)."""

    id: str
    project_id: str


@dataclass(frozen=True)
class Authenticated:
    user_id: str
    methods: tuple[str, ...]
    expires_at: Any = None  # a cap from a parent token or application credential
    audit_ids: tuple[str, ...] = ()
    parent_payload: TokenPayload | None = None
    application_credential: "AppCredRef | None" = None
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


@dataclass(frozen=True)
class _Attempt:
    """What a secret check needs, read in a short session; the slow hash runs after it closes."""

    secret_hash: str | None
    secret: str
    account_key: str
    label: str
    # Why the login fails even with the right secret (locked, disabled, expired), if it does.
    refusal: str | None
    who: Authenticated | None


def _password(identity: "IdentityService", session: Session, body: Any, address: str) -> _Attempt:
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
    refusal = "locked or throttled" if locked else None
    if refusal is None and user is not None and not user.enabled:
        refusal = "user disabled"
    who = None
    if user is not None:
        stale = account_key if identity.lockout.has_failures(session, account_key) else None
        who = Authenticated(user_id=user.id, methods=("password",), clear_failures_key=stale)
    return _Attempt(user.password_hash if user else None, password, account_key, label, refusal, who)


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


def _application_credential(identity: "IdentityService", session: Session, body: Any, address: str) -> _Attempt:
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
    if cred is None:
        return _Attempt(None, body["secret"], account_key, label, None, None)
    refusal = None
    if identity.lockout.is_locked(session, lk.source_key(address)):
        refusal = "throttled"
    elif cred.expires_at and cred.expires_at <= utcnow():
        refusal = "expired"
    else:
        user = session.get(User, cred.user_id)
        if user is None or not user.enabled:
            refusal = "user disabled"
    who = Authenticated(
        user_id=cred.user_id,
        methods=("application_credential",),
        expires_at=cred.expires_at,
        application_credential=AppCredRef(cred.id, cred.project_id),
    )
    return _Attempt(cred.secret_hash, body["secret"], account_key, label, refusal, who)


def _check_secret(identity: "IdentityService", attempt: _Attempt, address: str) -> Authenticated:
    """The hash, outside any session: a login in flight holds no pooled connection."""
    ok = identity.hasher.verify(attempt.secret_hash, attempt.secret)
    if not ok or attempt.who is None or attempt.refusal is not None:
        if attempt.refusal is not None:
            log.warning("authentication refused for %s from %s: %s", attempt.label, address, attempt.refusal)
        raise _FailedLogin(attempt.account_key, attempt.label)
    return attempt.who


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
        if method == "token":
            who = _token(identity, ident[method])
        else:
            read_attempt = _password if method == "password" else _application_credential
            with identity.cloud.db.read() as session:
                attempt = read_attempt(identity, session, ident[method], address)
            who = _check_secret(identity, attempt, address)
    except _FailedLogin as failed:
        with identity.cloud.db.session() as session:
            identity.lockout.record_failure(session, failed.account_key, failed.label, address)
        raise _denied(identity) from None
    with identity.cloud.db.read() as session:
        scope = _resolve_scope(identity, session, auth, who)
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
