"""Cinder's list paging in SQL: sort (sort=k:d,... or sort_key/sort_dir), limit, marker, offset.

A marker pages by keyset: the rows after the marker row in the sort order, so a page
costs one statement whatever the table holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_
from sqlalchemy.orm import Session

from gureum.http.errors import BadRequest, NotFound
from gureum.volume.common import positive_int

MAX_LIMIT = 1000
PAGING_KEYS = frozenset({"sort", "sort_key", "sort_dir", "limit", "marker", "offset", "with_count"})


@dataclass
class Page:
    rows: list[Any]
    next_marker: str | None


def parse_sort(params: dict[str, str], keys: dict[str, Any]) -> list[tuple[str, str]]:
    """[(key, direction)]; Cinder's default is created_at then id, newest first."""
    if "sort" in params and ("sort_key" in params or "sort_dir" in params):
        raise BadRequest("The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with "
                         "the 'sort' parameter.")
    pairs: list[tuple[str, str]] = []
    if params.get("sort"):
        for item in params["sort"].split(","):
            key, _, direction = item.strip().partition(":")
            pairs.append((key.strip(), (direction.strip() or "desc").lower()))
    elif params.get("sort_key") or params.get("sort_dir"):
        pairs.append((params.get("sort_key", "created_at").strip(), params.get("sort_dir", "desc").strip().lower()))
    for key, direction in pairs:
        if key not in keys:
            raise BadRequest(f"Invalid input received: Invalid sort key {key!r}. "
                             f"Valid keys: {', '.join(sorted(keys))}.")
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid input received: Invalid sort direction {direction!r}; "
                             "it must be 'asc' or 'desc'.")
    if not pairs:
        pairs = [("created_at", "desc")]
    if all(key != "id" for key, _ in pairs):
        pairs.append(("id", pairs[-1][1]))
    return pairs


def _sortable(column: Any) -> ColumnElement[Any]:
    # NULLs never compare: a keyset over a nullable text column sorts it as ''.
    col = column.expression
    return func.coalesce(col, "") if col.nullable and col.type.python_type is str else col


def paginate(session: Session, stmt: Select[Any], model: Any, params: dict[str, str],
             keys: dict[str, Any]) -> Page:
    sort = parse_sort(params, keys)
    columns = [(_sortable(keys[key]), direction) for key, direction in sort]
    limit = None
    if params.get("limit") not in (None, ""):
        limit = min(positive_int(params["limit"], "limit", minimum=0), MAX_LIMIT)
    offset = positive_int(params["offset"], "offset", minimum=0) if params.get("offset") not in (None, "") else 0
    marker = params.get("marker")
    if marker:
        marker_row = session.get(model, marker) if len(marker) <= 64 else None
        if marker_row is None:
            raise NotFound(f"Marker {marker} could not be found.")
        values = [_value_of(marker_row, keys[key]) for key, _ in sort]
        stmt = stmt.where(_after(columns, values))
    stmt = stmt.order_by(*[col.asc() if d == "asc" else col.desc() for col, d in columns])
    if offset:
        stmt = stmt.offset(offset)
    if limit is not None:
        if limit == 0:
            return Page([], None)
        stmt = stmt.limit(limit)
    rows = list(session.execute(stmt).scalars())
    next_marker = rows[-1].id if limit is not None and len(rows) == limit else None
    return Page(rows, next_marker)


def _value_of(row: Any, column: Any) -> Any:
    value = getattr(row, column.key)
    if value is None and column.expression.type.python_type is str:
        return ""
    return value


def _after(columns: list[tuple[ColumnElement[Any], str]], values: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after the marker in this order: (a > x) or (a = x and b > y) or ..."""
    clauses = []
    for i, (col, direction) in enumerate(columns):
        value = values[i]
        if value is None:
            continue
        beyond = col > value if direction == "asc" else col < value
        clauses.append(and_(*[c == v for (c, _), v in zip(columns[:i], values[:i])], beyond))
    return or_(*clauses) if clauses else false()
