"""TempURL: a signed link to one object (or a prefix) that expires.

The signature is HMAC(key, "METHOD\\nexpires\\npath"), hex for sha1/sha256/sha512
or "<digest>:<base64>"; the key is any of the account's or the container's
Temp-URL-Key(-2). tempest signs the catalog URL's own path, mount prefix and all,
so the full request path is checked and also the `/v1/...` form Swift's own
clients sign. A 401 says which part failed: users otherwise guess for hours.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from gureum.http.errors import Unauthorized
from gureum.objectstore.access import Caller, TempUrlParams
from gureum.objectstore.models import Container

if TYPE_CHECKING:
    from gureum.objectstore.service import ObjectStoreService

DIGESTS = {40: "sha1", 64: "sha256", 128: "sha512"}
ALLOWED_DIGESTS = ("sha1", "sha256", "sha512")
METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE")
KEY_NAMES = ("temp-url-key", "temp-url-key-2")


def parse_expires(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return int(datetime.strptime(raw, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp())
    except ValueError:
        raise Unauthorized("Temp URL invalid: temp_url_expires is not a Unix time or ISO 8601 UTC time.") from None


def _decode_signature(signature: str) -> tuple[str, bytes]:
    if ":" in signature:
        digest, _, encoded = signature.partition(":")
        if digest not in ALLOWED_DIGESTS:
            raise Unauthorized(f"Temp URL invalid: digest {digest!r} is not allowed.")
        try:
            padded = encoded + "=" * (-len(encoded) % 4)
            return digest, base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))
        except (binascii.Error, ValueError):
            raise Unauthorized("Temp URL invalid: the signature is not base64.") from None
    digest = DIGESTS.get(len(signature))
    if digest is None:
        raise Unauthorized("Temp URL invalid: the signature's length matches no allowed digest.")
    try:
        return digest, bytes.fromhex(signature)
    except ValueError:
        raise Unauthorized("Temp URL invalid: the signature is not hex.") from None


def _paths_to_sign(params: TempUrlParams) -> list[str]:
    """The request path as sent and its /v1/... tail (prefix URLs sign up to the prefix)."""
    paths = [params.path]
    at = params.path.find("/v1/")
    if at > 0:
        paths.append(params.path[at:])
    if params.prefix is not None:
        cut = len(params.object_name) - len(params.prefix)
        paths = ["prefix:" + p[: len(p) - cut] if cut else "prefix:" + p for p in paths]
    return paths


def signature_valid(keys: list[str], params: TempUrlParams) -> bool:
    digest, given = _decode_signature(params.signature)
    methods = [params.method]
    if params.method == "HEAD":
        methods = ["HEAD", "GET", "PUT"]
    for key in keys:
        for method in methods:
            for path in _paths_to_sign(params):
                body = f"{method}\n{params.expires}\n{path}".encode()
                expected = hmac.new(key.encode(), body, getattr(hashlib, digest)).digest()
                if hmac.compare_digest(expected, given):
                    return True
    return False


class TempUrlMethods:
    @staticmethod
    def tempurl_grants(caller: Caller) -> bool:
        return caller.tempurl is not None

    def tempurl_allows(self: "ObjectStoreService", s: Session, caller: Caller, box: Container) -> bool:
        """True for a valid TempURL to this container; a TempURL that fails raises 401 with the cause."""
        params = caller.tempurl
        if params is None:
            return False
        if params.method not in METHODS:
            raise Unauthorized(f"Temp URL invalid: method {params.method} is not allowed.")
        if parse_expires(params.expires) < time.time():
            raise Unauthorized("Temp URL expired.")
        if params.prefix is not None and not params.object_name.startswith(params.prefix):
            raise Unauthorized("Temp URL invalid: the object is not under temp_url_prefix.")
        account = self.account_row(s, box.project_id)
        keys = [v for k, v in (account.meta if account else {}).items() if k in KEY_NAMES]
        keys += [v for k, v in box.meta.items() if k in KEY_NAMES]
        if not keys:
            raise Unauthorized("Temp URL invalid: neither the account nor the container has a Temp-URL-Key.")
        if not signature_valid(keys, params):
            raise Unauthorized("Temp URL invalid: the signature does not match this method, expiry and path.")
        return True
