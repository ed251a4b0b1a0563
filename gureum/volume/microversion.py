"""Block storage microversions: `OpenStack-API-Version: volume 3.X`, as Cinder reads them."""

from __future__ import annotations

from starlette.datastructures import Headers

from gureum.http.microversion import Microversion, VersionRange, version_string

__all__ = ["MAX_VERSION", "MIN_VERSION", "Microversion", "requested", "response_headers", "version_string"]

MIN_VERSION = (3, 0)
# Cinder 2023.2's maximum; the deltas gureum shows are in views.py, keyed by version.
MAX_VERSION = (3, 71)

RANGE = VersionRange("volume", MIN_VERSION, MAX_VERSION)


def requested(headers: Headers) -> Microversion:
    return RANGE.requested(headers)


def response_headers(version: Microversion) -> dict[str, str]:
    return RANGE.response_headers(version)
