"""The identity service: issuing and validating tokens, and the caches behind them.

Validation is the hot path of every API call of every service: a validated
token is cached until identity data changes (see `RevisionWatch`), so a repeat
validation costs a dictionary lookup and a cheap expiry check.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gureum.db.base import utcnow
from gureum.db.revision import RevisionWatch
from gureum.http.context import RequestContext
from gureum.http.errors import NotFound, Unauthorized
from gureum.identity import catalog as catalog_mod
from gureum.identity.assignments import effective_roles
from gureum.identity import ec2 as ec2_mod
from gureum.identity.ec2 import Ec2Credentials, Ec2Secret
from gureum.identity.lockout import Lockout
from gureum.identity.models import (
    ApplicationCredential,
    Domain,
    Project,
    ProjectLimit,
    RegisteredLimit,
    RevocationEvent,
    Service,
    User,
)
from gureum.identity.passwords import SecretHasher
from gureum.identity.tokens import TokenInvalid, TokenKeyring, TokenPayload

if TYPE_CHECKING:
    from gureum.cloud import Cloud

log = logging.getLogger(__name__)

AUTH_REQUIRED = "The request you have made requires authentication."
CACHE_SIZE = 20000


@dataclass(frozen=True)
class ValidatedToken:
    """A token that decrypted, is unexpired and unrevoked, with its scope and roles resolved."""

    payload: TokenPayload
    context: RequestContext
    password_expires_at: datetime | None = None
    application_credential_name: str | None = None
    application_credential_restricted: bool = True

    @property
    def roles(self) -> list[dict[str, str]]:
        return [{"id": i, "name": n} for i, n in zip(self.context.role_ids, self.context.roles)]


class IdentityService:
    def __init__(self, cloud: "Cloud") -> None:
        self.cloud = cloud
        settings = cloud.settings
        self.revision = RevisionWatch(cloud.db, "identity")
        self.keyring = TokenKeyring(
            cloud.db,
            lifetime=timedelta(seconds=settings.token_lifetime_seconds),
            rotation=timedelta(seconds=settings.token_key_rotation_seconds),
        )
        self.hasher = SecretHasher(settings.password_hash_memory_kib, settings.password_hash_time_cost)
        self.lockout = Lockout(settings.lockout)
        self._cache_lock = threading.Lock()
        self._validated: OrderedDict[str, tuple[int, ValidatedToken]] = OrderedDict()
        self._revocations: tuple[int, list[RevocationEvent]] = (-1, [])
        self._catalog: tuple[int, list[dict[str, Any]]] = (-1, [])
        self._limits: tuple[int, dict[tuple[str, str, str], int | None]] = (-1, {})
        self._roles: tuple[int, dict[tuple[str, str, str], tuple[tuple[str, str], ...]]] = (-1, {})
        self.ec2 = Ec2Credentials(self)

    # -- life cycle -------------------------------------------------------------

    def start(self) -> None:
        from gureum.identity.bootstrap import bootstrap  # noqa: PLC0415
        from gureum.identity.policies import IDENTITY_POLICIES  # noqa: PLC0415

        self.cloud.policy.register_defaults(IDENTITY_POLICIES)
        self.revision.ensure_row()
        self.keyring.load()
        self.keyring.rotate_if_due()
        bootstrap(self.cloud)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A unit of work that changes identity data: caches everywhere go stale on commit."""
        with self.cloud.db.session() as session:
            yield session
            self.revision.bump(session)

    # -- tokens -----------------------------------------------------------------

    def issue(self, payload: TokenPayload) -> tuple[str, ValidatedToken]:
        self.keyring.rotate_if_due()
        token = self.keyring.encrypt(payload)
        return token, self.validate(token)

    def validate(self, token: str, allow_expired: bool = False) -> ValidatedToken:
        """Validate or raise NotFound (the subject-token wording keystone uses)."""
        revision = self.revision.current()
        cached = self._validated.get(token)
        if cached is not None and cached[0] == revision:
            if allow_expired or cached[1].payload.expires_at > utcnow():
                return cached[1]
        try:
            payload = self.keyring.decrypt(token)
        except TokenInvalid as exc:
            raise NotFound(f"Could not find token: {token[:16]}...") from exc
        if not allow_expired and payload.expires_at <= utcnow():
            raise NotFound(f"Could not find token: {token[:16]}... (it expired)")
        with self.cloud.db.read() as session:
            if self._is_revoked(session, payload, revision):
                raise NotFound(f"Could not find token: {token[:16]}... (it was revoked)")
            validated = self._resolve(session, payload, token)
        with self._cache_lock:
            self._validated[token] = (revision, validated)
            self._validated.move_to_end(token)
            while len(self._validated) > CACHE_SIZE:
                self._validated.popitem(last=False)
        return validated

    def context_for_token(self, token: str, remote_addr: str = "", request_id: str = "") -> RequestContext:
        """Authenticate an API call: any invalid token is a 401, as keystonemiddleware does."""
        try:
            validated = self.validate(token)
        except NotFound as exc:
            raise Unauthorized(AUTH_REQUIRED, headers=self.www_authenticate()) from exc
        return replace(validated.context, remote_addr=remote_addr, request_id=request_id)

    # -- signed requests (S3, EC2) ----------------------------------------------

    def s3_context(
        self, access_key: str, string_to_sign: str, signature: str, remote_addr: str = "", request_id: str = ""
    ) -> RequestContext:
        """Authenticate an S3 request in-process, as /v3/s3tokens does over HTTP.

        `string_to_sign` is what the S3 layer built from the request (SigV2, or SigV4
        starting `AWS4-HMAC-SHA256`; presigned URLs are the same math over the query's
        parts). Answers the credential owner's context scoped to the credential's
        project with the roles the owner holds there now. Raises
        `ec2.UnknownAccessKey` or `ec2.SignatureMismatch` (both Unauthorized, 401),
        or Unauthorized when the owner, the project or the roles are gone.

        There is no raw-secret accessor: every S3 check is a signature over a string
        the S3 layer builds, and the per-chunk signatures of aws-chunked SigV4 uploads
        need only the day-scoped derived key, which `s3_signing_key` gives.
        """
        found = self.ec2.check_s3(access_key, string_to_sign.encode(), signature)
        validated = self.resolve_ec2(found)
        return replace(validated.context, remote_addr=remote_addr, request_id=request_id)

    def s3_signing_key(self, access_key: str, string_to_sign: str) -> bytes:
        """The SigV4 signing key for the scope of `string_to_sign` (for aws-chunked chunk signatures).

        Check the request's own signature with `s3_context` first; this only derives the key.
        """
        return self.ec2.signing_key(access_key, string_to_sign.encode())

    def token_for_s3(self, body: Any) -> ValidatedToken:
        """POST /v3/s3tokens: the token a signed S3 request stands for (keystone answers 404 for an unknown key)."""
        credentials = ec2_mod.signed_credentials(body)
        try:
            found = self.ec2.check_s3(str(credentials["access"]), ec2_mod.s3_string_to_sign(credentials),
                                      str(credentials.get("signature", "")))
        except ec2_mod.UnknownAccessKey as exc:
            raise NotFound(exc.message) from exc
        ec2_mod.check_timestamp(credentials)
        return self.resolve_ec2(found)

    def token_for_ec2(self, body: Any) -> tuple[str, ValidatedToken]:
        """POST /v3/ec2tokens: a real token for a signed EC2 request."""
        credentials = ec2_mod.signed_credentials(body)
        try:
            found = self.ec2.check_ec2(credentials)
        except ec2_mod.UnknownAccessKey as exc:
            raise NotFound(exc.message) from exc
        ec2_mod.check_timestamp(credentials)
        self.resolve_ec2(found)  # refuses a gone owner, project or role before minting
        return self.issue(self.ec2.payload(found))

    def resolve_ec2(self, found: Ec2Secret) -> ValidatedToken:
        """The validated form of the token an ec2 credential stands for, without minting one."""
        payload = self.ec2.payload(found)
        with self.cloud.db.read() as session:
            try:
                return self._resolve(session, payload, "")
            except NotFound as exc:
                raise Unauthorized("User not valid for project.") from exc

    def www_authenticate(self) -> dict[str, str]:
        return {"WWW-Authenticate": f'Keystone uri="{self.cloud.settings.base_url}/identity"'}

    def revoke(self, session: Session, **match: Any) -> None:
        """Record a revocation event; tokens issued up to now that match it stop validating."""
        session.add(RevocationEvent(issued_before=utcnow(), **match))

    def _is_revoked(self, session: Session, payload: TokenPayload, revision: int) -> bool:
        if self._revocations[0] != revision:
            cutoff = utcnow() - timedelta(seconds=self.cloud.settings.token_lifetime_seconds * 2)
            events = list(session.execute(select(RevocationEvent).where(RevocationEvent.revoked_at > cutoff)).scalars())
            self._revocations = (revision, events)
        for event in self._revocations[1]:
            if payload.issued_at > event.issued_before:
                continue
            if event.audit_id is not None and event.audit_id not in payload.audit_ids:
                continue
            if event.user_id is not None and event.user_id != payload.user_id:
                continue
            if event.project_id is not None and event.project_id != payload.project_id:
                continue
            if event.domain_id is not None and event.domain_id != payload.domain_id:
                continue
            if (
                event.application_credential_id is not None
                and event.application_credential_id != payload.application_credential_id
            ):
                continue
            return True
        return False

    def _resolve(self, session: Session, payload: TokenPayload, token: str) -> ValidatedToken:
        def gone(why: str) -> NotFound:
            return NotFound(f"Could not find token: {token[:16]}... ({why})")

        user = session.get(User, payload.user_id)
        if user is None or not user.enabled:
            raise gone("its user is gone or disabled")
        user_domain = session.get(Domain, user.domain_id)
        if user_domain is None or not user_domain.enabled:
            raise gone("its user's domain is gone or disabled")
        fields: dict[str, Any] = {}
        roles: tuple[tuple[str, str], ...] = ()
        if payload.project_id:
            project = session.get(Project, payload.project_id)
            if project is None or not project.enabled:
                raise gone("its project is gone or disabled")
            project_domain = session.get(Domain, project.domain_id)
            if project_domain is None or not project_domain.enabled:
                raise gone("its project's domain is gone or disabled")
            roles = self.roles_for(session, user.id, "project", project.id)
            fields.update(
                project_id=project.id,
                project_name=project.name,
                project_domain_id=project_domain.id,
                project_domain_name=project_domain.name,
            )
        elif payload.domain_id:
            domain = session.get(Domain, payload.domain_id)
            if domain is None or not domain.enabled:
                raise gone("its domain is gone or disabled")
            roles = self.roles_for(session, user.id, "domain", domain.id)
            fields.update(domain_id=domain.id, domain_name=domain.name)
        elif payload.system:
            roles = self.roles_for(session, user.id, "system", "system")
            fields.update(system_scope=payload.system)
        app_cred_name, restricted = None, True
        if payload.application_credential_id:
            app_cred = session.get(ApplicationCredential, payload.application_credential_id)
            if app_cred is None or (app_cred.expires_at and app_cred.expires_at <= utcnow()):
                raise gone("its application credential is gone or expired")
            allowed = set(app_cred.role_ids)
            roles = tuple(r for r in roles if r[0] in allowed)
            app_cred_name, restricted = app_cred.name, not app_cred.unrestricted
        if (payload.project_id or payload.domain_id or payload.system) and not roles:
            raise gone("the user no longer has a role on its scope")
        context = RequestContext(
            user_id=user.id,
            user_name=user.name,
            user_domain_id=user_domain.id,
            user_domain_name=user_domain.name,
            roles=tuple(name for _id, name in roles),
            role_ids=tuple(role_id for role_id, _name in roles),
            expires_at=payload.expires_at,
            issued_at=payload.issued_at,
            audit_ids=payload.audit_ids,
            methods=payload.methods,
            application_credential_id=payload.application_credential_id,
            token=token,
            **fields,
        )
        return ValidatedToken(
            payload=payload,
            context=context,
            password_expires_at=user.password_expires_at,
            application_credential_name=app_cred_name,
            application_credential_restricted=restricted,
        )

    def roles_for(self, session: Session, user_id: str, target_type: str, target_id: str) -> tuple[tuple[str, str], ...]:
        """(id, name) of the roles the user holds on the target, cached until identity data changes."""
        revision = self.revision.current()
        if self._roles[0] != revision:
            self._roles = (revision, {})
        cache = self._roles[1]
        key = (user_id, target_type, target_id)
        if key not in cache:
            if len(cache) > CACHE_SIZE:
                cache.clear()
            cache[key] = tuple((r.id, r.name) for r in effective_roles(session, user_id, target_type, target_id))
        return cache[key]

    # -- catalog and limits -----------------------------------------------------

    def catalog(self, ctx: RequestContext) -> list[dict[str, Any]]:
        """The catalog as this token sees it: `%(project_id)s` and friends filled in."""
        revision = self.revision.current()
        if self._catalog[0] != revision:
            with self.cloud.db.read() as session:
                self._catalog = (revision, catalog_mod.build_catalog(session))
        return catalog_mod.format_catalog(self._catalog[1], ctx.project_id, ctx.user_id)

    def register_default_limits(self, service_type: str, defaults: dict[str, int]) -> None:
        """A service's quota defaults as registered limits in this region, so they are visible,
        editable and overridable per project at once. Idempotent: an operator's edit is
        kept; only missing ones are added (one deleted comes back at the next start, and
        the service's own default applies meanwhile). A default of 0 is never registered."""
        region = self.cloud.settings.region
        with self.write() as session:
            service_ids = list(session.execute(select(Service.id).where(Service.type == service_type)).scalars())
            if not service_ids:
                return
            present = set(session.execute(
                select(RegisteredLimit.resource_name).where(
                    RegisteredLimit.service_id.in_(service_ids), RegisteredLimit.region_id.in_([region, ""])
                )
            ).scalars())
            for resource, limit in defaults.items():
                if resource not in present and limit != 0:
                    session.add(RegisteredLimit(service_id=service_ids[0], region_id=region, resource_name=resource,
                                                default_limit=limit, description=""))

    def limit_for(self, project_id: str, service_type: str, resource_name: str) -> int | None:
        """The project's limit, else the registered default, else None (the service decides)."""
        revision = self.revision.current()
        if self._limits[0] != revision:
            self._limits = (revision, {})
        key = (project_id, service_type, resource_name)
        cache = self._limits[1]
        if key not in cache:
            cache[key] = self._lookup_limit(project_id, service_type, resource_name)
        return cache[key]

    def _lookup_limit(self, project_id: str, service_type: str, resource_name: str) -> int | None:
        region = self.cloud.settings.region
        with self.cloud.db.read() as session:
            service_ids = list(session.execute(select(Service.id).where(Service.type == service_type)).scalars())
            if not service_ids:
                return None
            for model, extra in ((ProjectLimit, ProjectLimit.project_id == project_id), (RegisteredLimit, None)):
                query = select(model).where(
                    model.service_id.in_(service_ids),
                    model.resource_name == resource_name,
                    model.region_id.in_([region, ""]),
                )
                if extra is not None:
                    query = query.where(extra)
                row = session.execute(query).scalars().first()
                if row is not None:
                    return row.resource_limit if isinstance(row, ProjectLimit) else row.default_limit
        return None
