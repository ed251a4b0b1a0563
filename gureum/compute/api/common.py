"""Helpers the compute endpoints share."""

from __future__ import annotations

from typing import Any

from gureum.compute.microversion import Microversion
from gureum.http.endpoint import ApiRequest

MICROVERSION_SCOPE_KEY = "gureum.compute.microversion"


def microversion(req: ApiRequest) -> Microversion:
    return req.request.scope[MICROVERSION_SCOPE_KEY]


def links(req: ApiRequest, collection: str, ident: str) -> list[dict[str, str]]:
    """Nova's self (versioned) and bookmark (unversioned) links."""
    root = req.base_url  # .../compute
    return [
        {"rel": "self", "href": f"{root}/v2.1/{collection}/{ident}"},
        {"rel": "bookmark", "href": f"{root}/{collection}/{ident}"},
    ]


def query_bool(value: str | None, default: bool | None = None) -> bool | None:
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "t", "yes", "y", "on"):
        return True
    if lowered in ("0", "false", "f", "no", "n", "off"):
        return False
    return default


def project_of(req: ApiRequest) -> str:
    ctx = req.context
    return ctx.project_id or ""


def body_dict(req: ApiRequest, key: str) -> dict[str, Any]:
    from gureum.http.errors import BadRequest  # noqa: PLC0415

    if not isinstance(req.body, dict) or not isinstance(req.body.get(key), dict):
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {req.body!r}. '{key}' is a required property")
    return req.body[key]
