"""Conditional requests (RFC 7232) as Swift evaluates them on objects."""

from __future__ import annotations

import math
from collections.abc import Mapping
from email.utils import formatdate, parsedate_to_datetime

from gureum.http.errors import ApiError, PreconditionFailed


class NotModified(ApiError):
    status = 304


def http_date(timestamp: float) -> str:
    """Last-Modified: Swift rounds the timestamp up to the whole second."""
    return formatdate(math.ceil(timestamp), usegmt=True)


def _etags(header: str) -> list[str]:
    return [tag.strip().removeprefix("W/").strip('"') for tag in header.split(",") if tag.strip()]


def _since(header: str) -> float | None:
    try:
        return parsedate_to_datetime(header).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None  # an unparsable date is ignored, as Swift does


def check(headers: Mapping[str, str], etag: str, timestamp: float, exists: bool = True,
          response_headers: Mapping[str, str] | None = None) -> None:
    """Raise 412 or 304 when the request's conditions say so; `etag` unquoted."""
    extra = dict(response_headers or {})
    modified = math.ceil(timestamp)
    if "if-match" in headers:
        tags = _etags(headers["if-match"])
        if not exists or ("*" not in tags and etag not in tags):
            raise PreconditionFailed("A precondition for this request was not met.", headers=extra)
    elif "if-unmodified-since" in headers:
        since = _since(headers["if-unmodified-since"])
        if since is not None and modified > since:
            raise PreconditionFailed("A precondition for this request was not met.", headers=extra)
    if not exists:
        return
    if "if-none-match" in headers:
        tags = _etags(headers["if-none-match"])
        if "*" in tags or etag in tags:
            raise NotModified("", headers=extra)
    elif "if-modified-since" in headers:
        since = _since(headers["if-modified-since"])
        if since is not None and modified <= since:
            raise NotModified("", headers=extra)
