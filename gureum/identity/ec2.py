"""EC2/S3 credentials: keystone's OS-EC2 routes, and signed-request authentication.

An ec2 credential is an ordinary `type: ec2` credential (so /v3/credentials shows
it) whose blob holds `access`, `secret` and the delegation it was made under
(`trust_id`, `app_cred_id`). Its id is the SHA-256 of the access key.

Authentication by signature (/v3/s3tokens, /v3/ec2tokens, and the S3 layer's
in-process `IdentityService.s3_context`) resolves the credential's owner on its
project with the roles the owner holds there now (narrowed to an application
credential's roles when the ec2 credential was made with one).
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from gureum.db.base import utcnow
from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest, NotFound, Unauthorized
from gureum.identity.ec2_signature import (
    SignatureError,
    ec2_request_signature,
    hash_access_key,
    s3_signature,
    signatures_equal,
    sigv4_scope,
    sigv4_signing_key,
)
from gureum.identity.models import Credential, Project, User
from gureum.identity.tokens import TokenPayload, new_audit_id
from gureum.policy import enforces

if TYPE_CHECKING:
    from gureum.identity.service import IdentityService

EC2 = "ec2"
METHOD = "ec2credential"


class UnknownAccessKey(Unauthorized):
    """No ec2 credential has this access key."""


class SignatureMismatch(Unauthorized):
    """The signature does not match the one the credential's secret gives (or cannot be computed)."""


@dataclass(frozen=True)
class Ec2Secret:
    """What signature checks need of a credential, cached until identity data changes."""

    access: str
    secret: str
    user_id: str
    project_id: str
    trust_id: str | None
    app_cred_id: str | None


def ec2_view(c: Credential, base: str) -> dict[str, Any]:
    blob = _blob(c)
    return {
        "user_id": c.user_id,
        "tenant_id": c.project_id,
        "access": blob.get("access"),
        "secret": blob.get("secret"),
        "trust_id": blob.get("trust_id"),
        "links": {"self": f"{base}/v3/users/{c.user_id}/credentials/OS-EC2/{blob.get('access')}"},
    }


def _blob(c: Credential) -> dict[str, Any]:
    try:
        blob = json.loads(c.blob or "{}")
    except ValueError:
        return {}
    return blob if isinstance(blob, dict) else {}


def _owner(ctx: RequestContext, user_id: str, *_: Any) -> dict[str, Any]:
    return {"user_id": user_id, "target.credential.user_id": user_id}


class Ec2Credentials:
    """The OS-EC2 credential manager; `identity.ec2` on the identity service."""

    def __init__(self, identity: "IdentityService") -> None:
        self.identity = identity
        self.cloud = identity.cloud
        self._lock = threading.Lock()
        self._secrets: tuple[int, dict[str, Ec2Secret | None]] = (-1, {})

    # -- OS-EC2 CRUD -------------------------------------------------------------

    @enforces("identity:ec2_create_credential", target=_owner)
    def create(self, ctx: RequestContext, user_id: str, project_id: Any, base: str) -> dict[str, Any]:
        if not isinstance(project_id, str) or not project_id:
            raise BadRequest("Expecting to find tenant_id in request body.")
        blob = {"access": uuid.uuid4().hex, "secret": uuid.uuid4().hex, "trust_id": None}
        if ctx.application_credential_id:
            # Tokens made from this credential stay within the application credential.
            blob["app_cred_id"] = ctx.application_credential_id
        with self.identity.write() as session:
            if session.get(User, user_id) is None:
                raise NotFound(f"Could not find user: {user_id}.")
            if session.get(Project, project_id) is None:
                raise NotFound(f"Could not find project: {project_id}.")
            credential = Credential(
                id=hash_access_key(blob["access"]),
                user_id=user_id,
                project_id=project_id,
                type=EC2,
                blob=json.dumps(blob),
                extra={},
            )
            session.add(credential)
            session.flush()
            return {"credential": ec2_view(credential, base)}

    @enforces("identity:ec2_list_credentials", target=_owner)
    def list(self, ctx: RequestContext, user_id: str, base: str) -> list[dict[str, Any]]:
        with self.cloud.db.read() as session:
            if session.get(User, user_id) is None:
                raise NotFound(f"Could not find user: {user_id}.")
            rows = session.execute(
                select(Credential).where(Credential.user_id == user_id, Credential.type == EC2).order_by(Credential.id)
            ).scalars()
            return [ec2_view(c, base) for c in rows]

    def get(self, ctx: RequestContext, user_id: str, access: str, base: str) -> dict[str, Any]:
        with self.cloud.db.read() as session:
            credential = self._load(ctx, session, user_id, access, "identity:ec2_get_credential")
            return {"credential": ec2_view(credential, base)}

    def delete(self, ctx: RequestContext, user_id: str, access: str) -> None:
        with self.identity.write() as session:
            credential = self._load(ctx, session, user_id, access, "identity:ec2_delete_credential")
            session.delete(credential)

    def _load(self, ctx: RequestContext, session: Any, user_id: str, access: str, action: str) -> Credential:
        credential_id = hash_access_key(access)
        credential = session.get(Credential, credential_id)
        if credential is None:
            raise NotFound(f"Could not find credential: {credential_id}.")
        self.cloud.policy.enforce(ctx, action, {"target.credential.user_id": credential.user_id})
        if session.get(User, user_id) is None:
            raise NotFound(f"Could not find user: {user_id}.")
        if credential.type != EC2 or credential.user_id != user_id:
            raise Unauthorized("EC2 access key not found.")
        return credential

    # -- signed requests ---------------------------------------------------------

    def secret_for(self, access: str) -> Ec2Secret:
        """The credential behind an access key, or UnknownAccessKey."""
        revision = self.identity.revision.current()
        with self._lock:
            if self._secrets[0] != revision:
                self._secrets = (revision, {})
            cache = self._secrets[1]
        if access not in cache:
            if len(cache) > 20000:
                cache.clear()
            cache[access] = self._lookup(access)
        found = cache[access]
        if found is None:
            raise UnknownAccessKey("EC2 access key not found.")
        return found

    def _lookup(self, access: str) -> Ec2Secret | None:
        with self.cloud.db.read() as session:
            credential = session.get(Credential, hash_access_key(access))
            if credential is None or credential.type != EC2 or not credential.project_id:
                return None
            blob = _blob(credential)
            if not isinstance(blob.get("secret"), str):
                return None
            return Ec2Secret(
                access=access,
                secret=blob["secret"],
                user_id=credential.user_id,
                project_id=credential.project_id,
                trust_id=blob.get("trust_id"),
                app_cred_id=blob.get("app_cred_id"),
            )

    def check_s3(self, access: str, string_to_sign: bytes, signature: str) -> Ec2Secret:
        found = self.secret_for(access)
        try:
            expected = s3_signature(found.secret, string_to_sign)
        except SignatureError as exc:
            raise SignatureMismatch(str(exc)) from exc
        if not signatures_equal(signature, expected):
            raise SignatureMismatch("Credential signature mismatch")
        return found

    def check_ec2(self, credentials: dict[str, Any]) -> Ec2Secret:
        found = self.secret_for(str(credentials["access"]))
        given = credentials.get("signature")
        if not given:
            raise SignatureMismatch("EC2 signature not supplied.")
        host = str(credentials.get("host", ""))
        # Some clients sign without the port: keystone tries again without it.
        for candidate in dict.fromkeys((host, host.rsplit(":", 1)[0] if ":" in host else host)):
            try:
                expected = ec2_request_signature(found.secret, {**credentials, "host": candidate})
            except SignatureError as exc:
                raise SignatureMismatch(str(exc)) from exc
            if signatures_equal(str(given), expected):
                return found
        raise SignatureMismatch("Invalid EC2 signature.")

    def signing_key(self, access: str, string_to_sign: bytes) -> bytes:
        found = self.secret_for(access)
        try:
            date, region, service = sigv4_scope(string_to_sign)
        except SignatureError as exc:
            raise SignatureMismatch(str(exc)) from exc
        return sigv4_signing_key(found.secret, date, region, service)

    def payload(self, found: Ec2Secret) -> TokenPayload:
        """A project-scoped token payload for the credential's owner (roles resolve at validation)."""
        if found.trust_id:
            raise Unauthorized("EC2 credentials made under a trust are not supported by gureum yet.")
        now = utcnow()
        return TokenPayload(
            user_id=found.user_id,
            methods=(METHOD,),
            issued_at=now,
            expires_at=now + timedelta(seconds=self.cloud.settings.token_lifetime_seconds),
            audit_ids=(new_audit_id(),),
            project_id=found.project_id,
            application_credential_id=found.app_cred_id,
        )


def check_timestamp(credentials: dict[str, Any], ttl: timedelta = timedelta(minutes=15)) -> None:
    """keystone's [credential] auth_ttl: a signed request older than 15 minutes is refused."""
    params = credentials.get("params") or {}
    headers = credentials.get("headers") or {}
    stamp = params.get("Timestamp") or headers.get("X-Amz-Date") or params.get("X-Amz-Date")
    if not stamp:
        return  # the signer left it out on purpose
    try:
        when = _parse_aws_time(str(stamp))
    except ValueError as exc:
        raise Unauthorized(f"Credential timestamp is invalid: {exc}") from exc
    if utcnow() > when + ttl:
        raise Unauthorized("Credential is expired")


def _parse_aws_time(text: str) -> datetime:
    for fmt in ("%Y%m%dT%H%M%SZ", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def signed_credentials(body: Any) -> dict[str, Any]:
    """The `credentials` of an s3tokens/ec2tokens body (keystone also takes `credential`, `ec2Credentials`)."""
    if not body:
        raise BadRequest("request must include a request body")
    if not isinstance(body, dict):
        raise BadRequest("Invalid input: the body must be a JSON object.")
    credentials = body.get("credentials") or body.get("credential") or body.get("ec2Credentials") or {}
    if not isinstance(credentials, dict):
        raise BadRequest("Invalid input for field 'credentials': expected an object.")
    if "access" not in credentials:
        raise Unauthorized("EC2 Signature not supplied")
    return credentials


def s3_string_to_sign(credentials: dict[str, Any]) -> bytes:
    """s3tokens carries the string to sign URL-safe base64 encoded in `token`."""
    try:
        return base64.urlsafe_b64decode(str(credentials.get("token", "")))
    except (ValueError, TypeError) as exc:
        raise BadRequest("Invalid input for field 'credentials.token': expected URL-safe base64.") from exc
