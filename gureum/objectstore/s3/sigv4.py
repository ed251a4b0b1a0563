"""AWS Signature Version 4 as S3 clients compute it: the canonical request and the string to sign.

gureum's S3 layer builds the string to sign from the request; identity checks the
signature against the credential's secret (cloud.identity.s3_context) and hands
out the day-scoped signing key aws-chunked chunk signatures need.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from calendar import timegm
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW_SECONDS = 15 * 60
MAX_PRESIGN_SECONDS = 7 * 24 * 3600


class SignatureProblem(Exception):
    """The request's signing is malformed (S3 code, message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class SignedRequest:
    access_key: str
    amz_date: str
    scope: str
    signed_headers: tuple[str, ...]
    signature: str
    payload_hash: str
    presigned: bool
    # SigV2 (HMAC-SHA1): the string to sign is built from the request alone.
    version: int = 4

    def string_to_sign(self, canonical_request: str) -> str:
        digest = hashlib.sha256(canonical_request.encode()).hexdigest()
        return f"{ALGORITHM}\n{self.amz_date}\n{self.scope}\n{digest}"


def _amz_time(amz_date: str) -> float:
    try:
        return float(timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")))
    except ValueError:
        raise SignatureProblem("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header") from None


def _credential(value: str) -> tuple[str, str]:
    parts = value.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or parts[3] != "s3":
        raise SignatureProblem("AuthorizationHeaderMalformed",
                               f"The authorization header is malformed; the Credential is mal-formed: {value}")
    return parts[0], "/".join(parts[1:])


def parse(method: str, headers: dict[str, str], query: list[tuple[str, str]]) -> SignedRequest | None:
    """The signing facts of a request, or None for an anonymous one."""
    auth = headers.get("authorization", "")
    params = dict(query)
    if auth.startswith(ALGORITHM + " "):
        fields = {}
        for item in auth[len(ALGORITHM) + 1:].split(","):
            key, _, value = item.strip().partition("=")
            fields[key] = value
        if not {"Credential", "SignedHeaders", "Signature"} <= set(fields):
            raise SignatureProblem("AuthorizationHeaderMalformed", "The authorization header is malformed.")
        access, scope = _credential(fields["Credential"])
        amz_date = headers.get("x-amz-date", "")
        if abs(_amz_time(amz_date) - time.time()) > MAX_SKEW_SECONDS:
            raise SignatureProblem("RequestTimeTooSkewed",
                                   "The difference between the request time and the current time is too large.")
        payload = headers.get("x-amz-content-sha256", "")
        if not payload:
            raise SignatureProblem("InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
        return SignedRequest(access, amz_date, scope, tuple(fields["SignedHeaders"].split(";")),
                             fields["Signature"], payload, presigned=False)
    if params.get("X-Amz-Algorithm") == ALGORITHM:
        for key in ("X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"):
            if key not in params:
                raise SignatureProblem("AuthorizationQueryParametersError", f"Query-string authentication requires {key}.")
        access, scope = _credential(params["X-Amz-Credential"])
        try:
            expires = int(params["X-Amz-Expires"])
        except ValueError:
            raise SignatureProblem("AuthorizationQueryParametersError", "X-Amz-Expires should be a number") from None
        if not 0 <= expires <= MAX_PRESIGN_SECONDS:
            raise SignatureProblem("AuthorizationQueryParametersError",
                                   "X-Amz-Expires must be less than a week (in seconds)")
        if _amz_time(params["X-Amz-Date"]) + expires < time.time():
            raise SignatureProblem("AccessDenied", "Request has expired")
        return SignedRequest(access, params["X-Amz-Date"], scope, tuple(params["X-Amz-SignedHeaders"].split(";")),
                             params["X-Amz-Signature"], UNSIGNED, presigned=True)
    if auth.startswith("AWS ") and ":" in auth:
        access, _, signature = auth[4:].strip().rpartition(":")
        return SignedRequest(access, "", "", (), signature, UNSIGNED, presigned=False, version=2)
    if {"AWSAccessKeyId", "Signature", "Expires"} <= set(params):
        try:
            expires = int(params["Expires"])
        except ValueError:
            raise SignatureProblem("AccessDenied", "Expires must be a Unix time") from None
        if expires < time.time():
            raise SignatureProblem("AccessDenied", "Request has expired")
        return SignedRequest(params["AWSAccessKeyId"], params["Expires"], "", (), params["Signature"], UNSIGNED,
                             presigned=True, version=2)
    if auth:
        raise SignatureProblem("AccessDenied", "Unsupported Authorization header.")
    return None


# Query parameters that are part of a SigV2 canonical resource (as botocore's HmacV1 lists them).
V2_SUBRESOURCES = frozenset({
    "acl", "cors", "delete", "lifecycle", "location", "logging", "notification", "partNumber", "policy",
    "requestPayment", "response-cache-control", "response-content-disposition", "response-content-encoding",
    "response-content-language", "response-content-type", "response-expires", "restore", "tagging", "torrent",
    "uploadId", "uploads", "versionId", "versioning", "versions", "website"})


def v2_string_to_sign(method: str, raw_path: str, raw_query: str, headers: dict[str, str],
                      signed: SignedRequest) -> str:
    """SigV2: verb, Content-MD5, Content-Type, date (or Expires), x-amz-* headers, resource."""
    when = signed.amz_date if signed.presigned else ("" if "x-amz-date" in headers else headers.get("date", ""))
    amz = sorted((k, " ".join(v.split())) for k, v in headers.items() if k.startswith("x-amz-"))
    pairs = sorted((k, v) for k, v in parse_qsl(raw_query, keep_blank_values=True) if k in V2_SUBRESOURCES)
    resource = raw_path or "/"
    if pairs:
        resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in pairs)
    lines = [method, headers.get("content-md5", ""), headers.get("content-type", ""), when]
    lines += [f"{k}:{v}" for k, v in amz]
    return "\n".join(lines) + "\n" + resource


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def canonical_request(method: str, raw_path: str, raw_query: str, headers: dict[str, str],
                      signed: SignedRequest) -> str:
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    if signed.presigned:
        pairs = [(k, v) for k, v in pairs if k != "X-Amz-Signature"]
    query = "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(pairs))
    lines = []
    for name in signed.signed_headers:
        value = headers.get(name)
        if value is None:
            raise SignatureProblem("SignatureDoesNotMatch", f"Header {name} is signed but not sent.")
        lines.append(f"{name}:{' '.join(value.split())}\n")
    return "\n".join([method, raw_path or "/", query, "".join(lines), ";".join(signed.signed_headers),
                      signed.payload_hash])


def chunk_string_to_sign(signed: SignedRequest, previous: str, chunk_sha256: str) -> str:
    return f"{ALGORITHM}-PAYLOAD\n{signed.amz_date}\n{signed.scope}\n{previous}\n{EMPTY_SHA256}\n{chunk_sha256}"


def chunk_signature(key: bytes, string_to_sign: str) -> str:
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
