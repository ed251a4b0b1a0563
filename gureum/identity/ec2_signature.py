"""AWS request signatures as keystone checks them for /v3/s3tokens and /v3/ec2tokens.

One module for the math, so the S3 layer (in-process) and the HTTP routes agree:

- S3 (what Swift's s3token middleware and RGW send): the caller has built the
  string to sign; a string starting `AWS4-HMAC-SHA256` is SigV4 (the signing key
  is derived from the secret and the scope on its third line), anything else is
  SigV2 (base64 of HMAC-SHA1).
- EC2 (what an EC2 API front end sends): the request's parts (verb, host, path,
  params, headers, body hash); SignatureVersion 2 (HMAC-SHA256 over the canonical
  query) or SigV4 (Authorization header or X-Amz-* query parameters).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import quote

SIGV4_ALGORITHM = "AWS4-HMAC-SHA256"


class SignatureError(Exception):
    """The signature could not even be computed (malformed string to sign or request)."""


def hash_access_key(access: str) -> str:
    """An ec2 credential's id: the SHA-256 of its access key, as keystone stores it."""
    return hashlib.sha256(access.encode()).hexdigest()


def _hmac_sha256(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


def sigv4_signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """AWS's derived key: HMAC chain over the scope, ending with 'aws4_request'."""
    key = _hmac_sha256(("AWS4" + secret).encode(), date.encode())
    key = _hmac_sha256(key, region.encode())
    key = _hmac_sha256(key, service.encode())
    return _hmac_sha256(key, b"aws4_request")


def sigv4_scope(string_to_sign: bytes) -> tuple[str, str, str]:
    """(date, region, service) from a SigV4 string to sign; SignatureError if it is not one."""
    lines = string_to_sign.split(b"\n")
    if len(lines) != 4 or lines[0] != SIGV4_ALGORITHM.encode():
        raise SignatureError("Invalid EC2 signature.")
    scope = lines[2].split(b"/")
    if len(scope) != 4 or scope[3] != b"aws4_request":
        raise SignatureError("Invalid EC2 signature.")
    try:
        date, region, service = (part.decode() for part in scope[:3])
    except UnicodeDecodeError as exc:
        raise SignatureError("Invalid EC2 signature.") from exc
    return date, region, service


def s3_signature(secret: str, string_to_sign: bytes) -> str:
    """The signature an S3 client computed over `string_to_sign` with `secret`."""
    if string_to_sign.startswith(b"AWS4"):
        date, region, service = sigv4_scope(string_to_sign)
        if service != "s3":
            raise SignatureError("Invalid EC2 signature.")
        key = sigv4_signing_key(secret, date, region, service)
        return hmac.new(key, string_to_sign, hashlib.sha256).hexdigest()
    digest = hmac.new(secret.encode(), string_to_sign, hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signatures_equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


# -- EC2 requests ------------------------------------------------------------------


def _canonical_query(params: dict[str, Any]) -> str:
    return "&".join(
        quote(str(key), safe="") + "=" + quote(str(params[key]), safe="-_~") for key in sorted(params)
    )


def _is_sigv4(credentials: dict[str, Any]) -> bool:
    auth = str((credentials.get("headers") or {}).get("Authorization", ""))
    return auth.startswith(SIGV4_ALGORITHM) or (credentials.get("params") or {}).get("X-Amz-Algorithm") == SIGV4_ALGORITHM


def ec2_request_signature(secret: str, credentials: dict[str, Any]) -> str:
    """The signature of an EC2 request described by keystone's ec2tokens credentials body."""
    params = dict(credentials.get("params") or {})
    params.pop("Signature", None)
    version = params.get("SignatureVersion")
    verb, host, path = (str(credentials.get(k, "")) for k in ("verb", "host", "path"))
    if version == "2":
        method = params.get("SignatureMethod", "HmacSHA256")
        digestmod = hashlib.sha1 if method == "HmacSHA1" else hashlib.sha256
        string_to_sign = f"{verb}\n{host}\n{path}\n{_canonical_query(params)}"
        return base64.b64encode(hmac.new(secret.encode(), string_to_sign.encode(), digestmod).digest()).decode()
    if _is_sigv4(credentials):
        return _ec2_sigv4(secret, credentials, params, verb, path)
    if version is not None:
        raise SignatureError(f"Unknown signature version: {version}")
    raise SignatureError("Unexpected signature format")


def _ec2_sigv4(secret: str, credentials: dict[str, Any], params: dict[str, Any], verb: str, path: str) -> str:
    headers = {str(k): str(v) for k, v in (credentials.get("headers") or {}).items()}
    authorization = headers.get("Authorization")
    params.pop("X-Amz-Signature", None)

    def auth_param(name: str) -> str:
        if authorization is not None:
            return authorization.partition(f"{name}=")[2].split(",")[0].strip()
        return str(params.get(f"X-Amz-{name}", ""))

    signed_headers = auth_param("SignedHeaders")
    lower = {k.lower().strip(): v.strip() for k, v in headers.items()}
    header_lines = "".join(f"{h}:{lower[h]}\n" for h in signed_headers.split(";") if h in lower)
    canonical = "\n".join(
        (verb.upper(), path, _canonical_query(params), header_lines, signed_headers, str(credentials.get("body_hash", "")))
    )
    credential = auth_param("Credential").split("/")
    if len(credential) != 5:
        raise SignatureError("Invalid EC2 signature.")
    date = headers.get("X-Amz-Date") or str(params.get("X-Amz-Date", ""))
    if not date.startswith(credential[1]):
        raise SignatureError("Request date mismatch error")
    string_to_sign = "\n".join(
        (SIGV4_ALGORITHM, date, "/".join(credential[1:]), hashlib.sha256(canonical.encode()).hexdigest())
    )
    key = sigv4_signing_key(secret, credential[1], credential[2], credential[3])
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
