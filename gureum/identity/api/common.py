"""Small helpers the identity endpoints share."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.orm import Session

from gureum.http.endpoint import ApiRequest
from gureum.http.errors import BadRequest, NotFound

Model = TypeVar("Model")

FALSE_STRINGS = ("0", "false", "f", "no", "n", "off")


def get_or_404(session: Session, model: type[Model], ident: str, kind: str) -> Model:
    row = session.get(model, ident)
    if row is None:
        raise NotFound(f"Could not find {kind}: {ident}.")
    return row


def query_bool(value: str) -> bool:
    """keystone: '0', 'false' and friends are false, anything else (even empty) is true."""
    return value.strip().lower() not in FALSE_STRINGS


def self_url(req: ApiRequest) -> str:
    url = str(req.request.url)
    return url


def body_object(req: ApiRequest, key: str) -> dict[str, Any]:
    """The `{key: {...}}` wrapper every keystone body has."""
    body = req.body
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise BadRequest(f"Invalid input for field '{key}': expected a JSON object under '{key}'.")
    return body[key]


def string_field(schema_max: int = 255, min_length: int = 1) -> dict[str, Any]:
    return {"type": "string", "minLength": min_length, "maxLength": schema_max}


NAME = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"[\S]"}
# keystone keeps project and domain names to 64 characters.
NAME_64 = {**NAME, "maxLength": 64}
DESCRIPTION = {"type": ["string", "null"], "maxLength": 65535}
ENABLED = {"type": "boolean"}
ID_REF = {"type": "string", "minLength": 1, "maxLength": 64}
NULLABLE_ID = {"type": ["string", "null"], "maxLength": 64}
TAGS = {
    "type": "array",
    "maxItems": 80,
    "uniqueItems": True,
    "items": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[^,/]*$"},
}


def wrapped(key: str, properties: dict[str, Any], required: tuple[str, ...] = (), extra: bool = True) -> dict[str, Any]:
    """A `{key: {...}}` body schema; keystone allows extra attributes on most entities."""
    return {
        "type": "object",
        "properties": {
            key: {
                "type": "object",
                "properties": properties,
                "required": list(required),
                "additionalProperties": extra,
            }
        },
        "required": [key],
    }
