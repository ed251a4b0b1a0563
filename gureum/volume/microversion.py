"""Block storage microversions: `OpenStack-API-Version: volume 3.X`, as Cinder reads them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.datastructures import Headers

from gureum.http.errors import BadRequest, NotAcceptable

MIN_VERSION = (3, 0)
# Cinder 2023.2's maximum; the deltas gureum shows are in views.py, keyed by version.
MAX_VERSION = (3, 71)

_VERSION_RE = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


@dataclass(frozen=True, order=True)
class Microversion:
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def at_least(self, minor: int) -> bool:
        return (self.major, self.minor) >= (3, minor)


def version_string(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"


def requested(headers: Headers) -> Microversion:
    """The version asked for: 3.0 when none, the newest for 'latest', 406 outside the range."""
    raw = None
    value = headers.get("openstack-api-version")
    if value:
        for part in value.split(","):
            service, _, version = part.strip().partition(" ")
            if service.lower() == "volume":
                raw = version.strip()
    if raw is None:
        return Microversion(*MIN_VERSION)
    if raw.lower() == "latest":
        return Microversion(*MAX_VERSION)
    m = _VERSION_RE.match(raw)
    if not m:
        raise BadRequest(f"API Version String {raw} is of invalid format. Must be of format MajorNum.MinorNum.")
    version = (int(m.group(1)), int(m.group(2)))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise NotAcceptable(
            f"Version {raw} is not supported by the API. Minimum is {version_string(MIN_VERSION)} "
            f"and maximum is {version_string(MAX_VERSION)}."
        )
    return Microversion(*version)


def response_headers(version: Microversion) -> dict[str, str]:
    return {"OpenStack-API-Version": f"volume {version}", "Vary": "OpenStack-API-Version"}
