"""Microversions as OpenStack reads them: `OpenStack-API-Version: <service> X.Y`.

One parser for every service that has them; each service module names its range
(and Nova its legacy header).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.datastructures import Headers

from gureum.http.errors import BadRequest, NotAcceptable

_VERSION_RE = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


@dataclass(frozen=True, order=True)
class Microversion:
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def at_least(self, minor: int) -> bool:
        """Whether this is X.minor or newer within its (one) major version."""
        return self.minor >= minor


def version_string(v: tuple[int, int]) -> str:
    return f"{v[0]}.{v[1]}"


@dataclass(frozen=True)
class VersionRange:
    service: str
    min_version: tuple[int, int]
    max_version: tuple[int, int]
    legacy_header: str | None = None

    def requested(self, headers: Headers) -> Microversion:
        """The version asked for: the minimum when none, the newest for 'latest', 406 outside."""
        raw = None
        value = headers.get("openstack-api-version")
        if value:
            for part in value.split(","):
                service, _, version = part.strip().partition(" ")
                if service.lower() == self.service:
                    raw = version.strip()
        if raw is None and self.legacy_header:
            raw = headers.get(self.legacy_header.lower())
        if raw is None:
            return Microversion(*self.min_version)
        if raw.lower() == "latest":
            return Microversion(*self.max_version)
        m = _VERSION_RE.match(raw)
        if not m:
            raise BadRequest(f"API Version String {raw} is of invalid format. Must be of format MajorNum.MinorNum.")
        version = (int(m.group(1)), int(m.group(2)))
        if not self.min_version <= version <= self.max_version:
            raise NotAcceptable(
                f"Version {raw} is not supported by the API. Minimum is {version_string(self.min_version)} "
                f"and maximum is {version_string(self.max_version)}."
            )
        return Microversion(*version)

    def response_headers(self, version: Microversion) -> dict[str, str]:
        headers = {"OpenStack-API-Version": f"{self.service} {version}"}
        vary = ["OpenStack-API-Version"]
        if self.legacy_header:
            headers[self.legacy_header] = str(version)
            vary.append(self.legacy_header)
        headers["Vary"] = ", ".join(vary)
        return headers
