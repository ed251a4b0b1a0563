"""GET /v2/images: glance's filters, sorting and marker pagination, as one SQL query."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select

from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest
from gureum.image.models import Image, ImageMember, ImageProperty, ImageTag

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id", "created_at", "updated_at")
DEFAULT_SORT_DIR = "desc"
MEMBER_STATUS_FILTERS = ("pending", "accepted", "rejected", "all")
VISIBILITY_FILTERS = ("community", "public", "private", "shared", "all")
# Plain columns a filter may name; anything else is a free-form property.
COLUMN_FILTERS = ("name", "status", "owner", "disk_format", "container_format", "id", "checksum", "os_hash_value")
TIME_FILTERS = ("created_at", "updated_at")
TIME_OPERATORS = {"gt": "__gt__", "gte": "__ge__", "lt": "__lt__", "lte": "__le__", "eq": "__eq__", "neq": "__ne__"}


@dataclass
class ListRequest:
    limit: int = DEFAULT_LIMIT
    marker: str | None = None
    sort: list[tuple[str, str]] = field(default_factory=list)
    member_status: str = "accepted"
    visibility: str | None = None
    tags: list[str] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)
    times: dict[str, str] = field(default_factory=dict)
    size_min: int | None = None
    size_max: int | None = None
    protected: bool | None = None
    os_hidden: bool = False
    properties: dict[str, str] = field(default_factory=dict)


def _bool_filter(name: str, value: str) -> bool:
    if value not in ("true", "false"):
        raise BadRequest(f"Invalid value '{value}' for '{name}' filter. Valid values are 'true' or 'false'.")
    return value == "true"


def _int_filter(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"Invalid value '{value}' for '{name}' filter: expected an integer.") from None


def _sort_key(key: str) -> str:
    if key not in SORT_KEYS:
        raise BadRequest(f"Invalid sort key: {key}. It must be one of the following: {', '.join(SORT_KEYS)}.")
    return key


def _sort_dir(direction: str) -> str:
    if direction not in ("asc", "desc"):
        raise BadRequest(f"Invalid sort direction: {direction}")
    return direction


def _parse_sort(params: list[tuple[str, str]]) -> list[tuple[str, str]]:
    new_style = [v for k, v in params if k == "sort"]
    keys = [v.strip() for k, v in params if k == "sort_key"]
    dirs = [v.strip() for k, v in params if k == "sort_dir"]
    if new_style:
        if keys or dirs:
            raise BadRequest("Old and new sorting syntax cannot be combined")
        sort = []
        for item in new_style[-1].strip().split(","):
            key, _, direction = item.partition(":")
            sort.append((_sort_key(key.strip()), _sort_dir(direction.strip() or DEFAULT_SORT_DIR)))
        return sort
    dirs = [_sort_dir(d) for d in dirs]
    keys = [_sort_key(k) for k in keys]
    if len(dirs) > 1 and len(dirs) != len(keys):
        raise BadRequest("Number of sort dirs does not match the number of sort keys")
    if not keys:
        keys = ["created_at"]
    if not dirs:
        dirs = [DEFAULT_SORT_DIR]
    if len(dirs) == 1:
        dirs = dirs * len(keys)
    return list(zip(keys, dirs, strict=True))


def parse_list_request(params: list[tuple[str, str]]) -> ListRequest:
    req = ListRequest(sort=_parse_sort(params))
    for key, value in params:
        if key in ("sort", "sort_key", "sort_dir"):
            continue
        if key == "limit":
            try:
                limit = int(value)
            except ValueError:
                raise BadRequest("limit param must be an integer") from None
            if limit < 0:
                raise BadRequest("limit param must be positive")
            req.limit = min(limit, MAX_LIMIT)
        elif key == "marker":
            req.marker = value
        elif key == "member_status":
            if value not in MEMBER_STATUS_FILTERS:
                raise BadRequest(f"Invalid status: {value}")
            req.member_status = value
        elif key == "visibility":
            if value not in VISIBILITY_FILTERS:
                raise BadRequest(f"Invalid visibility value: {value}")
            req.visibility = value
        elif key == "tag":
            req.tags.append(value.strip())
        elif key == "changes-since":
            raise BadRequest('The "changes-since" filter is no longer available on v2.')
        elif key in ("size_min", "size_max"):
            setattr(req, key, _int_filter(key, value))
        elif key == "protected":
            req.protected = _bool_filter(key, value)
        elif key == "os_hidden":
            req.os_hidden = _bool_filter(key, value.lower())
        elif key in TIME_FILTERS:
            req.times[key] = value
        elif key in COLUMN_FILTERS:
            req.columns[key] = value
        else:
            req.properties[key] = value
    return req


def _column_condition(column: Any, value: str) -> ColumnElement[bool]:
    """`in:a,b` selects any of several values, as glance allows."""
    if value.startswith("in:"):
        wanted = [v.strip().strip('"') for v in value[3:].split(",")]
        return column.in_(wanted)
    return column == value


def _parse_time(name: str, value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"Invalid value '{value}' for '{name}': not an ISO 8601 date and time.") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _time_condition(name: str, value: str) -> ColumnElement[bool]:
    operator, sep, moment = value.partition(":")
    if not sep or operator not in TIME_OPERATORS:
        raise BadRequest(
            f"Invalid value '{value}' for '{name}': expected one of {', '.join(TIME_OPERATORS)} "
            "followed by ':' and a time, such as gte:2024-01-01T00:00:00Z."
        )
    column = getattr(Image, name)
    return getattr(column, TIME_OPERATORS[operator])(_parse_time(name, moment))


def _is_member(project_id: str, member_status: str | None) -> ColumnElement[bool]:
    conditions = [ImageMember.image_id == Image.id, ImageMember.member_id == project_id]
    if member_status is not None and member_status != "all":
        conditions.append(ImageMember.status == member_status)
    return exists().where(*conditions)


def visible_condition(ctx: RequestContext, member_status: str | None = None) -> ColumnElement[bool]:
    """What a caller may see at all: glance's rule, in SQL. Admins see everything."""
    if ctx.is_admin:
        return and_(True)
    shown = [Image.visibility.in_(("public", "community"))]
    if ctx.project_id:
        shown.append(Image.owner == ctx.project_id)
        shown.append(and_(Image.visibility == "shared", _is_member(ctx.project_id, member_status)))
    return or_(*shown)


def _filters(ctx: RequestContext, req: ListRequest) -> list[ColumnElement[bool]]:
    conditions = [visible_condition(ctx, req.member_status)]
    if req.visibility is not None:
        if req.visibility != "all":
            conditions.append(Image.visibility == req.visibility)
    elif ctx.project_id is None:
        conditions.append(Image.visibility != "community")
    else:
        # Community images show up unasked only for their owner.
        conditions.append(or_(Image.owner == ctx.project_id, Image.visibility != "community"))
    conditions.append(Image.os_hidden == req.os_hidden)
    for name, value in req.columns.items():
        conditions.append(_column_condition(getattr(Image, name), value))
    for name, value in req.times.items():
        conditions.append(_time_condition(name, value))
    if req.size_min is not None:
        conditions.append(Image.size >= req.size_min)
    if req.size_max is not None:
        conditions.append(Image.size <= req.size_max)
    if req.protected is not None:
        conditions.append(Image.protected == req.protected)
    for tag in req.tags:
        conditions.append(exists().where(ImageTag.image_id == Image.id, ImageTag.value == tag))
    for name, value in req.properties.items():
        conditions.append(
            exists().where(ImageProperty.image_id == Image.id, ImageProperty.name == name, ImageProperty.value == value)
        )
    return conditions


def _sort_column(key: str) -> Any:
    """NULLs compare as '' or -1 so keyset pagination stays consistent on every database."""
    column = getattr(Image, key)
    if key in ("name", "disk_format", "container_format"):
        return func.coalesce(column, "")
    if key == "size":
        return func.coalesce(column, -1)
    return column


def _full_sort(req: ListRequest) -> list[tuple[str, str]]:
    sort = list(req.sort)
    default_dir = sort[0][1] if len({d for _, d in sort}) == 1 else DEFAULT_SORT_DIR
    for key in ("created_at", "id"):
        if key not in (k for k, _ in sort):
            sort.append((key, default_dir))
    return sort


def _after_marker(marker: Image, sort: list[tuple[str, str]]) -> ColumnElement[bool]:
    """Rows strictly after the marker in the sort order (keyset pagination)."""
    alternatives = []
    for index, (key, direction) in enumerate(sort):
        equal_before = [_sort_column(k) == _marker_value(marker, k) for k, _ in sort[:index]]
        column, value = _sort_column(key), _marker_value(marker, key)
        beyond = column > value if direction == "asc" else column < value
        alternatives.append(and_(*equal_before, beyond))
    return or_(*alternatives)


def _marker_value(marker: Image, key: str) -> Any:
    value = getattr(marker, key)
    if value is None:
        return -1 if key == "size" else ""
    return value


def build_query(ctx: RequestContext, req: ListRequest, marker: Image | None) -> Select[tuple[Image]]:
    sort = _full_sort(req)
    query = select(Image).where(*_filters(ctx, req))
    if marker is not None:
        query = query.where(_after_marker(marker, sort))
    order = [_sort_column(k).asc() if d == "asc" else _sort_column(k).desc() for k, d in sort]
    return query.order_by(*order).limit(req.limit)
