"""Input checks and lookups every block storage module shares.

Messages follow Cinder's wording where clients or tempest read them; each names the
field it refuses.
"""

from __future__ import annotations

import ast
import json
import re
import uuid
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest, NotFound

MAX_NAME = 255
_INT_RE = re.compile(r"^\s*[+]?\d+\s*$")


def require_object(body: Any, key: str) -> dict[str, Any]:
    """The `{"key": {...}}` wrapper every Cinder request body has."""
    if not isinstance(body, dict) or key not in body:
        raise BadRequest(f"Missing required element '{key}' in request body.")
    inner = body[key]
    if not isinstance(inner, dict):
        raise BadRequest(f"Invalid input for field '{key}': it must be an object.")
    return inner


def optional_str(data: dict[str, Any], field: str, *, max_length: int = MAX_NAME, strip: bool = True) -> str | None:
    if field not in data or data[field] is None:
        return None
    value = data[field]
    if not isinstance(value, str):
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value!r}. It must be a string.")
    if strip:
        value = value.strip()
    if len(value) > max_length:
        raise BadRequest(f"Invalid input for field/attribute {field}. It must be at most {max_length} characters.")
    return value


def positive_int(value: Any, field: str, *, minimum: int = 1) -> int:
    """An integer, or a string of digits as Cinder's schema allows; at least `minimum`."""
    if isinstance(value, bool):
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. It must be an integer.")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _INT_RE.match(value):
        number = int(value)
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. "
                         f"'{value}' is not a valid integer.")
    if number < minimum:
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. "
                         f"{number} is less than the minimum of {minimum}")
    if number > 2**31 - 1:
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. It is too large.")
    return number


def as_bool(value: Any, field: str) -> bool:
    """Cinder's strict boolean: true/false, yes/no, on/off, 1/0, as JSON booleans or strings."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "t", "yes", "y", "on", "1"):
        return True
    if text in ("false", "f", "no", "n", "off", "0"):
        return False
    raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. It must be a boolean.")


def metadata_dict(value: Any, field: str = "metadata") -> dict[str, str]:
    """Metadata: string keys of 1-255 characters, string values of at most 255."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value!r}. It must be an object.")
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > MAX_NAME:
            raise BadRequest(f"Invalid input for field/attribute {field}. Metadata keys must be "
                             f"1 to {MAX_NAME} characters.")
        if not isinstance(item, str):
            raise BadRequest(f"Invalid input for field/attribute {field}. Value of '{key}' must be a string.")
        if len(item) > MAX_NAME:
            raise BadRequest(f"Invalid input for field/attribute {field}. Value of '{key}' is longer than "
                             f"{MAX_NAME} characters.")
        result[key] = item
    return result


def parse_query_dict(raw: str, field: str) -> dict[str, str]:
    """A dict filter in the query string: JSON, or the Python repr tempest and cinderclient send."""
    try:
        value = json.loads(raw)
    except ValueError:
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise BadRequest(f"Invalid filter {field}: {raw!r} is not a dictionary.") from None
    if not isinstance(value, dict):
        raise BadRequest(f"Invalid filter {field}: {raw!r} is not a dictionary.")
    return {str(k): str(v) for k, v in value.items()}


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        return False
    return True


def scoped(stmt: Select[Any], model: Any, ctx: RequestContext, all_tenants: bool = False) -> Select[Any]:
    """Rows the caller sees: its project's; every project's for an admin asking for all."""
    if ctx.is_admin and all_tenants:
        return stmt
    return stmt.where(model.project_id == (ctx.project_id or ""))


def visible(ctx: RequestContext, row: Any) -> bool:
    return row is not None and (ctx.is_admin or row.project_id == ctx.project_id)


def get_visible(session: Session, model: Any, ctx: RequestContext, row_id: str, what: str) -> Any:
    """A row the caller may see, else Cinder's 404 naming it."""
    row = session.get(model, row_id) if isinstance(row_id, str) and len(row_id) <= 64 else None
    if not visible(ctx, row):
        raise NotFound(f"{what} {row_id} could not be found.")
    return row
