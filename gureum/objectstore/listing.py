"""Keyset listings in byte order, with Swift's prefix, delimiter, marker and reverse.

Every page is `name > :marker [AND name < :end] ORDER BY name LIMIT n` on the
(scope, name) index; never OFFSET, never a scan of the whole container. A
delimiter works as Swift's container DB does: on the first name with a delimiter
past the prefix, emit the `subdir` row and query again from just after everything
that shares it. So a page costs one query per subdir it shows plus one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import Session


@dataclass(frozen=True)
class ListingQuery:
    prefix: str = ""
    delimiter: str = ""
    marker: str = ""
    end_marker: str = ""
    limit: int = 10000
    reverse: bool = False


@dataclass(frozen=True)
class Subdir:
    name: str


def _after(text: str) -> str:
    """The least string greater than every string starting with `text`."""
    return text[:-1] + chr(ord(text[-1]) + 1)


def keyset_list(session: Session, base: Select[Any], name_col: ColumnElement[str], query: ListingQuery) -> list[Any]:
    """Rows of `base` (already filtered to one account or container) and Subdir entries."""
    results: list[Any] = []
    # Bounds as (value, inclusive); None is open.
    low: tuple[str, bool] | None = None
    high: tuple[str, bool] | None = None
    if query.reverse:
        if query.marker:
            high = (query.marker, False)
        if query.end_marker:
            low = (query.end_marker, False)
    else:
        if query.marker:
            low = (query.marker, False)
        if query.end_marker:
            high = (query.end_marker, False)
    if query.prefix:
        low = _tighter_low(low, (query.prefix, True))
        high = _tighter_high(high, (_after(query.prefix), False))
    last_subdir = query.marker
    # With a delimiter a page may end after one row (the next subdir): read in small
    # batches then, growing while rows keep coming without one.
    batch = 4 if query.delimiter else query.limit
    while len(results) < query.limit:
        want = min(query.limit - len(results), batch)
        stmt = base
        if low is not None:
            stmt = stmt.where(name_col >= low[0] if low[1] else name_col > low[0])
        if high is not None:
            stmt = stmt.where(name_col <= high[0] if high[1] else name_col < high[0])
        stmt = stmt.order_by(name_col.desc() if query.reverse else name_col).limit(want)
        rows = session.execute(stmt).scalars().all()
        if not rows:
            break
        requery = False
        for row in rows:
            name = row.name
            if query.delimiter:
                end = name.find(query.delimiter, len(query.prefix))
                if end >= 0:
                    dir_name = name[: end + len(query.delimiter)]
                    if dir_name != last_subdir:
                        results.append(Subdir(dir_name))
                        last_subdir = dir_name
                    if query.reverse:
                        high = (dir_name[:-len(query.delimiter)] + query.delimiter, False)
                    else:
                        low = (_after(dir_name), True)
                    requery = True
                    break
            results.append(row)
            if query.reverse:
                high = (name, False)
            else:
                low = (name, False)
            if len(results) >= query.limit:
                break
        if not requery:
            if len(rows) < want:
                break
            batch = min(batch * 4, query.limit)
    return results


def _tighter_low(a: tuple[str, bool] | None, b: tuple[str, bool]) -> tuple[str, bool]:
    if a is None or b[0] > a[0] or (b[0] == a[0] and not b[1]):
        return b
    return a


def _tighter_high(a: tuple[str, bool] | None, b: tuple[str, bool]) -> tuple[str, bool]:
    if a is None or b[0] < a[0] or (b[0] == a[0] and not b[1]):
        return b
    return a
