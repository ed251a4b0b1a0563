"""Helpers the compute endpoints share."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar
from urllib.parse import urlencode

import jsonschema

from gureum.compute.microversion import Microversion
from gureum.http.endpoint import ApiRequest
from gureum.http.errors import BadRequest

T = TypeVar("T")

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


def limited(req: ApiRequest, items: list[T]) -> list[T]:
    """Nova's common.limited: ?offset= and ?limit= over a whole list (each a whole number)."""
    numbers = {}
    for key in ("offset", "limit"):
        raw = req.query.get(key)
        if raw is None:
            continue
        if not raw.isdigit():
            raise BadRequest(f"Invalid input for query parameters {key}. Value: {raw}. "
                             f"'{raw}' does not match '^[0-9]*$'")
        numbers[key] = int(raw)
    offset, limit = numbers.get("offset", 0), numbers.get("limit")
    return items[offset:] if limit is None else items[offset:offset + limit]


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
    if not isinstance(req.body, dict) or not isinstance(req.body.get(key), dict):
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {req.body!r}. '{key}' is a required property")
    return req.body[key]


# -- nova-style validation, paging, timestamps and policy answers -----------------------

MAX_LIMIT = 1000  # nova's [api] max_limit

# -- nova-style validation -------------------------------------------------------

_NAME_REASON = "printable characters. Can not start or end with whitespace."


class InvalidName(Exception):
    pass


_FORMATS = jsonschema.FormatChecker()


@_FORMATS.checks("name", raises=InvalidName)
def _valid_name(instance: object) -> bool:
    if isinstance(instance, str) and instance.isprintable() and instance == instance.strip():
        return True
    raise InvalidName(f"An invalid 'name' value was provided. The name must be: {_NAME_REASON}")


def _number_from_str(instance: Any) -> Any:
    if isinstance(instance, bool):
        return None
    if isinstance(instance, (int, float)):
        return instance
    try:
        return int(instance)
    except (TypeError, ValueError):
        try:
            return float(instance)
        except (TypeError, ValueError):
            return None


def _bounded(kind: str) -> Any:
    original = jsonschema.Draft202012Validator.VALIDATORS[kind]

    def check(validator: Any, bound: Any, instance: Any, schema: Any) -> Any:
        # nova checks the bounds of numbers sent as strings too ("10").
        number = _number_from_str(instance)
        if number is None:
            return None
        return original(validator, bound, number, schema)

    return check


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, {"minimum": _bounded("minimum"), "maximum": _bounded("maximum")}
)


def check_body(req: ApiRequest, schema: Mapping[str, Any]) -> Any:
    """Validate the request body as nova does, with nova's messages; returns the body."""
    _validate(req.body, schema, "field/attribute", last=True)
    return req.body


def _validate(instance: Any, schema: Mapping[str, Any], what: str, last: bool) -> None:
    validator = _Validator(schema, format_checker=_FORMATS)
    try:
        error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    except InvalidName as exc:  # raised while checking, not collected
        raise BadRequest(str(exc)) from exc
    if error is None:
        return
    if isinstance(error.cause, InvalidName):
        raise BadRequest(str(error.cause))
    if error.path:
        path = error.path[-1] if last else error.path[0]
        raise BadRequest(f"Invalid input for {what} {path}. Value: {error.instance}. {error.message}")
    raise BadRequest(error.message)


NON_NEGATIVE_INT = {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 0, "minLength": 1}
STRING = {"type": "string"}
PAGING = {"limit": NON_NEGATIVE_INT, "marker": STRING}


def check_query(req: ApiRequest, properties: Mapping[str, Any], strict_since: int = 75) -> dict[str, str]:
    """Check query parameters against their schemas; unknown ones are refused from 2.`strict_since`.

    Returns the parameters, the last value of each (as webob's params.get does).
    """
    params = {key: req.query.getlist(key)[-1] for key in req.query.keys()}
    schema = {
        "type": "object",
        "properties": properties,
        "additionalProperties": not microversion(req).at_least(strict_since),
    }
    _validate(params, schema, "query parameters", last=False)
    return params


def limit_and_marker(params: Mapping[str, str]) -> tuple[int, str | None]:
    limit = MAX_LIMIT
    if params.get("limit") not in (None, ""):
        limit = min(MAX_LIMIT, int(params["limit"]))
    return limit, params.get("marker")


def collection_links(req: ApiRequest, collection: str, items: list[Any], last_id: str | None) -> list[dict[str, str]]:
    """Nova's "next" link: when the page is as long as the limit asked for (or max_limit)."""
    try:
        max_items = min(int(req.query.get("limit", MAX_LIMIT)), MAX_LIMIT)
    except ValueError:
        max_items = MAX_LIMIT
    if not max_items or max_items != len(items) or last_id is None:
        return []
    params = dict(sorted((k, req.query.getlist(k)[-1]) for k in req.query.keys()))
    params["marker"] = str(last_id)
    return [{"rel": "next", "href": f"{req.base_url}/v2.1/{collection}?{urlencode(params)}"}]


def strtime(value: datetime | None) -> str | None:
    """Nova's timestamps: naive UTC with microseconds, e.g. 2014-05-07T12:06:13.681238."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")
