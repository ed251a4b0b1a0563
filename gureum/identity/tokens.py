"""Self-contained tokens (Fernet), so validating one needs no database read.

The payload carries who, how, which scope and when; roles and the catalog are
looked up (and cached) at validation, so a role removed now applies now.
Keys live in the database so every controller behind a load balancer shares them.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import delete, select

from gureum.db.base import utcnow
from gureum.db.engine import Database
from gureum.identity.models import TokenKey

PAYLOAD_VERSION = 1
METHOD_BITS = {"password": 1, "token": 2, "application_credential": 4, "totp": 8, "ec2credential": 16}


class TokenInvalid(Exception):
    pass


@dataclass(frozen=True)
class TokenPayload:
    user_id: str
    methods: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    audit_ids: tuple[str, ...]
    project_id: str | None = None
    domain_id: str | None = None
    system: str | None = None
    application_credential_id: str | None = None


def new_audit_id() -> str:
    return base64.urlsafe_b64encode(Fernet.generate_key()[:16]).decode().rstrip("=")[:22]


def _to_micros(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000)


def _from_micros(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1_000_000, tz=timezone.utc)


def _encode_methods(methods: tuple[str, ...]) -> int:
    return sum(METHOD_BITS[m] for m in methods if m in METHOD_BITS)


def _decode_methods(bits: int) -> tuple[str, ...]:
    return tuple(m for m, bit in METHOD_BITS.items() if bits & bit)


def pack(payload: TokenPayload) -> bytes:
    scope = payload.project_id or payload.domain_id or payload.system or ""
    scope_kind = "p" if payload.project_id else "d" if payload.domain_id else "s" if payload.system else ""
    fields = [
        PAYLOAD_VERSION,
        payload.user_id,
        _encode_methods(payload.methods),
        scope_kind,
        scope,
        _to_micros(payload.issued_at),
        _to_micros(payload.expires_at),
        list(payload.audit_ids),
        payload.application_credential_id or "",
    ]
    return json.dumps(fields, separators=(",", ":")).encode()


def unpack(data: bytes) -> TokenPayload:
    try:
        version, user_id, bits, scope_kind, scope, issued, expires, audit_ids, app_cred = json.loads(data)
    except (ValueError, TypeError) as exc:
        raise TokenInvalid("malformed token payload") from exc
    if version != PAYLOAD_VERSION:
        raise TokenInvalid("unknown token version")
    return TokenPayload(
        user_id=user_id,
        methods=_decode_methods(bits),
        issued_at=_from_micros(issued),
        expires_at=_from_micros(expires),
        audit_ids=tuple(audit_ids),
        project_id=scope if scope_kind == "p" else None,
        domain_id=scope if scope_kind == "d" else None,
        system=scope if scope_kind == "s" else None,
        application_credential_id=app_cred or None,
    )


class TokenKeyring:
    """Encrypts with the newest key, decrypts with any key still kept."""

    def __init__(self, db: Database, lifetime: timedelta, rotation: timedelta) -> None:
        self.db = db
        self.lifetime = lifetime
        self.rotation = rotation
        self._fernet: MultiFernet | None = None
        self._primary_created: datetime | None = None
        self._lock = threading.Lock()
        self._loaded_at = 0.0

    def load(self) -> None:
        self._loaded_at = time.monotonic()
        with self.db.session() as s:
            keys = s.execute(select(TokenKey).order_by(TokenKey.id.desc())).scalars().all()
            if not keys:
                s.add(TokenKey(key=Fernet.generate_key().decode()))
        if not keys:
            return self.load()
        self._fernet = MultiFernet([Fernet(k.key.encode()) for k in keys])
        self._primary_created = keys[0].created_at

    def rotate_if_due(self) -> bool:
        if self._primary_created is not None and utcnow() - self._primary_created < self.rotation:
            return False
        self.rotate()
        return True

    def rotate(self) -> None:
        """Add a new primary key; drop keys no unexpired token can have been signed with."""
        with self._lock, self.db.session() as s:
            s.add(TokenKey(key=Fernet.generate_key().decode(), created_at=utcnow()))
            s.flush()
            keys = s.execute(select(TokenKey).order_by(TokenKey.id.desc())).scalars().all()
            now = utcnow()
            for newer, older in zip(keys, keys[1:]):
                # `older` stopped signing when `newer` was made; its tokens die a lifetime later.
                if newer.created_at + self.lifetime < now:
                    s.execute(delete(TokenKey).where(TokenKey.id == older.id))
        self.load()

    def encrypt(self, payload: TokenPayload) -> str:
        if self._fernet is None:
            self.load()
        assert self._fernet is not None
        return self._fernet.encrypt(pack(payload)).decode().rstrip("=")

    def decrypt(self, token: str) -> TokenPayload:
        if self._fernet is None:
            self.load()
        assert self._fernet is not None
        if not token or len(token) > 1024:
            raise TokenInvalid("malformed token")
        padded = token + "=" * (-len(token) % 4)
        try:
            data = self._fernet.decrypt(padded.encode())
        except (InvalidToken, ValueError, TypeError):
            # Another controller may have rotated: reload keys (at most once a second,
            # so garbage tokens cannot turn into a database load) and try again.
            if time.monotonic() - self._loaded_at < 1.0:
                raise TokenInvalid("token could not be decrypted") from None
            self.load()
            try:
                data = self._fernet.decrypt(padded.encode())
            except (InvalidToken, ValueError, TypeError) as exc:
                raise TokenInvalid("token could not be decrypted") from exc
        return unpack(data)
