"""Compute API microversions: `OpenStack-API-Version: compute X.Y` (or Nova's legacy header)."""

from __future__ import annotations

from starlette.datastructures import Headers

from gureum.http.microversion import Microversion, VersionRange, version_string

__all__ = ["MAX_VERSION", "MIN_VERSION", "Microversion", "requested", "response_headers", "version_string"]

MIN_VERSION = (2, 1)
# Skyline pins 2.79; every shape change up to here is implemented where gureum has the call.
MAX_VERSION = (2, 79)

RANGE = VersionRange("compute", MIN_VERSION, MAX_VERSION, legacy_header="X-OpenStack-Nova-API-Version")


def requested(headers: Headers) -> Microversion:
    return RANGE.requested(headers)


def response_headers(version: Microversion) -> dict[str, str]:
    return RANGE.response_headers(version)
