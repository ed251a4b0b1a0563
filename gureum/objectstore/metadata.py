"""Swift's metadata headers: what a request sets, removes or replaces."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gureum.http.errors import BadRequest
from gureum.objectstore.limits import check_metadata

# Object headers Swift keeps with the object and gives back on GET/HEAD.
KEPT_OBJECT_HEADERS = ("content-disposition", "content-encoding", "content-language", "cache-control",
                       "expires", "x-object-manifest", "x-robots-tag")


def merged_meta(current: Mapping[str, Any], headers: Mapping[str, str], kind: str) -> dict[str, str]:
    """An account's or container's metadata after a PUT/POST: set, blank removes, X-Remove- removes."""
    meta = dict(current)
    prefix = f"x-{kind}-meta-"
    remove = f"x-remove-{kind}-meta-"
    for key, value in headers.items():
        if key.startswith(prefix):
            name = key[len(prefix):]
            if value.strip():
                meta[name] = value.strip()
            else:
                meta.pop(name, None)
        elif key.startswith(remove):
            meta.pop(key[len(remove):], None)
    check_metadata(meta, kind.capitalize())
    return meta


def object_meta(headers: Mapping[str, str]) -> dict[str, str]:
    """X-Object-Meta-*: on an object PUT or POST these replace all the old ones."""
    # Unlike accounts and containers, an object keeps a name sent with an empty value.
    meta = {k[len("x-object-meta-"):]: v.strip() for k, v in headers.items() if k.startswith("x-object-meta-")}
    check_metadata(meta, "Object")
    return meta


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k in KEPT_OBJECT_HEADERS}


def delete_at(headers: Mapping[str, str], now: float) -> float | None:
    """X-Delete-At (epoch seconds) or X-Delete-After (seconds from now); past times are 400."""
    if "x-delete-after" in headers:
        try:
            after = int(headers["x-delete-after"])
        except ValueError:
            raise BadRequest("Non-integer X-Delete-After") from None
        if after < 0:
            raise BadRequest("X-Delete-After in past")
        return now + after
    if "x-delete-at" in headers:
        raw = headers["x-delete-at"]
        try:
            at = float(int(float(raw)))
        except ValueError:
            raise BadRequest("Non-integer X-Delete-At") from None
        if at <= now:
            raise BadRequest("X-Delete-At in past")
        return at
    return None


def title_header(name: str) -> str:
    return "-".join(part[:1].upper() + part[1:] for part in name.split("-"))
