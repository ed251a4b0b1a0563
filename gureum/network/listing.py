"""Neutron's list semantics in SQL: filters, sort_key/sort_dir, limit/marker (keyset), page_reverse.

A list is one statement for the page (limit + 1 rows, to know whether there is a
next page) plus one for the marker row; views then load their child rows in batched
IN queries, so the count of statements never depends on the number of rows.

Filters follow what gureum answered before (and neutron without filter validation):
repeated keys mean any of the values, a key the resource does not have (or the caller
may not see) is ignored, booleans match 'true'/'false' in any case, '', 'None' and
'null' match a null value.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, DateTime, Integer, and_, false, func, literal, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from gureum.network.attributes import MISSING, Resource

# Query parameters that shape a list rather than filter it.
LIST_CONTROLS = {"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"}
NULL_WORDS = ("", "None", "null")


@dataclass(frozen=True)
class ListQuery:
    filters: dict[str, list[str]] = field(default_factory=dict)
    sort: tuple[tuple[str, bool], ...] = ()  # (attribute, descending)
    limit: int | None = None
    marker: str | None = None
    page_reverse: bool = False

    @classmethod
    def from_params(cls, pairs: Iterable[tuple[str, str]]) -> "ListQuery":
        filters: dict[str, list[str]] = {}
        keys: list[str] = []
        dirs: list[str] = []
        limit: int | None = None
        marker: str | None = None
        reverse = False
        for key, value in pairs:
            if key == "sort_key":
                keys.append(value)
            elif key == "sort_dir":
                dirs.append(value)
            elif key == "limit":
                limit = int(value) if value.isdigit() and int(value) > 0 else None
            elif key == "marker":
                marker = value or None
            elif key == "page_reverse":
                reverse = value.lower() == "true"
            elif key not in LIST_CONTROLS:
                filters.setdefault(key, []).append(value)
        sort = tuple((k, (dirs[i] if i < len(dirs) else "asc") == "desc") for i, k in enumerate(keys))
        return cls(filters, sort, limit, marker, reverse)


@dataclass
class Page:
    rows: list[Any]
    # Markers of Neutron's `links`: the last row when there are more, the first when a marker was given.
    next_marker: str | None = None
    previous_marker: str | None = None


def _column(resource: Resource, name: str) -> Any:
    attr = resource.attrs.get(name)
    if attr is None or not attr.column:
        return None
    return getattr(resource.model, attr.column)


def _matches_const(value: Any, wanted: list[str]) -> bool:
    if isinstance(value, bool):
        return str(value).lower() in [w.lower() for w in wanted]
    if isinstance(value, list):
        return any(str(item) in wanted for item in value)
    if value is None:
        return any(w in NULL_WORDS for w in wanted)
    return str(value) in wanted


def column_filter(column: Any, wanted: list[str]) -> ColumnElement[bool]:
    """`column` equals any wanted value, in the column's own type."""
    kind = column.type
    clauses: list[ColumnElement[bool]] = []
    if any(w in NULL_WORDS for w in wanted):
        clauses.append(column.is_(None))
    if isinstance(kind, Boolean):
        values: list[Any] = sorted({w.lower() == "true" for w in wanted if w.lower() in ("true", "false")})
    elif isinstance(kind, Integer):
        values = [int(w) for w in wanted if w.lstrip("-").isdigit()]
    elif isinstance(kind, DateTime):
        # Views show whole seconds in UTC: a wanted second matches every instant inside it.
        for w in wanted:
            try:
                moment = datetime.strptime(w, "%Y-%m-%dT%H:%M:%SZ")
            except ValueError:
                continue
            clauses.append(and_(column >= moment, column < moment + timedelta(seconds=1)))
        values = []
    else:
        values = list(wanted)
    if values:
        clauses.append(column.in_(values))
    return or_(*clauses) if clauses else false()


def where(resource: Resource, filters: dict[str, list[str]], visible: Any) -> list[ColumnElement[bool]]:
    """SQL conditions for the filters; `visible(name)` says whether the caller may see an attribute."""
    conditions: list[ColumnElement[bool]] = []
    for name, wanted in filters.items():
        attr = resource.attrs.get(name)
        if attr is None or not visible(name):
            continue
        if attr.sql is not None:
            conditions.append(attr.sql(wanted))
        elif attr.const is not MISSING:
            conditions.append(true() if _matches_const(attr.const, wanted) else false())
        elif attr.column:
            conditions.append(column_filter(getattr(resource.model, attr.column), wanted))
    return conditions


def _sort_expression(column: Any) -> Any:
    """Nulls sort as the smallest value on every database (keyset comparisons need a value)."""
    kind = column.type
    if not column.property.columns[0].nullable or isinstance(kind, DateTime):
        return column
    low: Any = -1 if isinstance(kind, Integer) else False if isinstance(kind, Boolean) else ""
    return func.coalesce(column, literal(low, type_=kind))


def page(session: Session, resource: Resource, query: Select[Any], wanted: ListQuery,
         default_sort: tuple[str, ...] = ("created_at",)) -> Page:
    """Run `query` (already narrowed to what the caller may see and to the filters) as one page."""
    model = resource.model
    keys: list[tuple[Any, bool]] = []
    for name, desc in wanted.sort or tuple((n, False) for n in default_sort):
        column = _column(resource, name)
        if column is not None and name != "id":
            keys.append((_sort_expression(column), desc))
    last_desc = keys[-1][1] if wanted.sort and keys else False
    keys.append((model.id, last_desc))
    backwards = wanted.page_reverse
    if wanted.marker:
        marker_values = session.execute(select(*[k for k, _ in keys]).where(model.id == wanted.marker)).first()
        if marker_values is not None:
            query = query.where(_after(keys, list(marker_values), backwards))
    order = [(k.desc() if desc != backwards else k.asc()) for k, desc in keys]
    query = query.order_by(*order)
    if wanted.limit:
        query = query.limit(wanted.limit + 1)
    # Plain rows, not ORM objects: a page of thousands renders several times faster, and the
    # views only read attributes (which rows and objects name alike).
    rows = list(session.execute(query.with_only_columns(*model.__table__.columns)).all())
    more = bool(wanted.limit) and len(rows) > (wanted.limit or 0)
    if more:
        rows = rows[: wanted.limit]
    if backwards:
        rows.reverse()
    result = Page(rows)
    if wanted.limit and rows:
        if backwards:
            result.next_marker = rows[-1].id if wanted.marker else None
            result.previous_marker = rows[0].id if more else None
        else:
            result.next_marker = rows[-1].id if more else None
            result.previous_marker = rows[0].id if wanted.marker else None
    return result


def _after(keys: list[tuple[Any, bool]], values: list[Any], backwards: bool) -> ColumnElement[bool]:
    """Rows strictly past the marker in the sort order (or before it, paging backwards)."""
    options: list[ColumnElement[bool]] = []
    for i, (key, desc) in enumerate(keys):
        equal = [k == v for (k, _), v in zip(keys[:i], values[:i])]
        past = key < values[i] if desc != backwards else key > values[i]
        options.append(and_(*equal, past))
    return or_(*options)


def filter_views(items: list[dict[str, Any]], wanted: ListQuery) -> tuple[list[dict[str, Any]], Page]:
    """The same semantics over rendered views, for the short lists no table holds (agents).

    A filter on a key the views lack is ignored; list values match when any item does
    (`key=value` for dicts).
    """
    result = [i for i in items if all(k not in i or _matches_view(i[k], v) for k, v in wanted.filters.items())]
    for key, desc in reversed(wanted.sort):
        result.sort(key=lambda i: (i.get(key) is None, str(i.get(key))), reverse=desc)
    ids = [i["id"] for i in result]
    if wanted.marker and wanted.marker in ids:
        result = result[ids.index(wanted.marker) + 1:]
    answer = Page([])
    if wanted.limit and len(result) > wanted.limit:
        result = result[: wanted.limit]
        answer.next_marker = result[-1]["id"]
    if wanted.limit and wanted.marker and result:
        answer.previous_marker = result[0]["id"]
    return result, answer


def _matches_view(value: Any, wanted: list[str]) -> bool:
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                for w in wanted:
                    key, _, val = w.partition("=")
                    if str(item.get(key)) == val:
                        return True
            elif str(item) in wanted:
                return True
        return False
    return _matches_const(value, wanted)
