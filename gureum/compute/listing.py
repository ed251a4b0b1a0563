"""GET /servers and /servers/detail as Nova filters, sorts and pages them.

The filters Nova runs in its database run in SQL here; the regex and set filters
(name, tags, ip) run over the rows of the query. The page's views are then loaded
for all its servers at once (`loader.load_servers`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from gureum.compute import addresses, states
from gureum.compute.models import Host, Instance
from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest

SORT_KEYS = {"created_at": Instance.created_at, "display_name": Instance.name, "updated_at": Instance.updated_at,
             "uuid": Instance.uuid, "vm_state": Instance.vm_state, "task_state": Instance.task_state,
             "launched_at": Instance.launched_at, "project_id": Instance.project_id, "user_id": Instance.user_id,
             "hostname": Instance.hostname, "power_state": Instance.power_state}
STATUS_FILTER = {"ACTIVE": [states.ACTIVE], "BUILD": [states.BUILDING], "SHUTOFF": [states.STOPPED],
                 "PAUSED": [states.PAUSED], "SUSPENDED": [states.SUSPENDED], "ERROR": [states.ERROR],
                 "VERIFY_RESIZE": [states.RESIZED], "DELETED": [states.DELETED]}
TRUE = ("1", "true", "t", "yes", "y", "on")


def all_tenants(params: Mapping[str, str]) -> bool:
    return "all_tenants" in params and params["all_tenants"].lower() not in ("0", "false", "off", "no")


def _parse_time(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"Invalid filter field: {name}: {value} is not an ISO 8601 time.") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _regex(params: Mapping[str, str], key: str) -> re.Pattern[str] | None:
    if key not in params:
        return None
    try:
        return re.compile(params[key])
    except re.error as exc:
        raise BadRequest(f"Invalid filter field: {key}: {exc}") from exc


def query(ctx: RequestContext, params: Mapping[str, str]) -> Select[tuple[Instance]] | None:
    """The SQL half of the filters, sorted; None when a filter can match nothing."""
    q = params
    deleted = q.get("deleted", "").lower() in TRUE and ctx.is_admin
    stmt = select(Instance).where(Instance.deleted.is_(deleted))
    if not all_tenants(q):
        stmt = stmt.where(Instance.project_id == ctx.project_id)
    elif ctx.is_admin and (q.get("project_id") or q.get("tenant_id")):
        stmt = stmt.where(Instance.project_id == (q.get("project_id") or q.get("tenant_id")))
    if "status" in q:
        vm_states = STATUS_FILTER.get(q["status"].upper())
        if vm_states is None:
            return None
        stmt = stmt.where(Instance.vm_state.in_(vm_states))
    if "image" in q:
        stmt = stmt.where(Instance.image_ref == q["image"].rstrip("/").rsplit("/", 1)[-1])
    if "changes-since" in q:
        stmt = stmt.where(Instance.updated_at >= _parse_time(q["changes-since"], "changes-since"))
        stmt = stmt.where(Instance.deleted.in_([True, False]))
    if "user_id" in q and ctx.is_admin:
        stmt = stmt.where(Instance.user_id == q["user_id"])
    if "reservation_id" in q:
        stmt = stmt.where(Instance.reservation_id == q["reservation_id"])
    if "availability_zone" in q:
        stmt = stmt.where(Instance.availability_zone == q["availability_zone"])
    if "host" in q and ctx.is_admin:
        stmt = stmt.where(Instance.host_id.in_(select(Host.id).where(Host.hostname == q["host"])))
    sort_key = q.get("sort_key", "created_at")
    if sort_key not in SORT_KEYS:
        raise BadRequest(f"Invalid input for query parameters sort_key. Value: {sort_key}.")
    column = SORT_KEYS[sort_key]
    return stmt.order_by(column.asc() if q.get("sort_dir", "desc") == "asc" else column.desc(), Instance.uuid)


def filter_rows(session: Session, rows: list[Instance], params: Mapping[str, str],
                locked_filter: bool) -> list[Instance]:
    """The filters Nova applies beyond its SQL: regexes, flavor, tags, locked, fixed IPs."""
    q = params
    name = _regex(q, "name")
    if name is not None:
        rows = [r for r in rows if name.search(r.name)]
    if "flavor" in q:
        rows = [r for r in rows if str(r.flavor.get("id")) == q["flavor"]]
    for key, want_all, negate in (("tags", True, False), ("tags-any", False, False),
                                  ("not-tags", True, True), ("not-tags-any", False, True)):
        if key in q:
            wanted = set(q[key].split(","))

            def keep(r: Instance, wanted: set[str] = wanted, want_all: bool = want_all, negate: bool = negate) -> bool:
                tags = set(r.tags or [])
                hit = wanted <= tags if want_all else bool(wanted & tags)
                return not hit if negate else hit

            rows = [r for r in rows if keep(r)]
    if "locked" in q and locked_filter:
        want = q["locked"].lower() in TRUE
        rows = [r for r in rows if r.locked == want]
    ip4, ip6 = _regex(q, "ip"), _regex(q, "ip6")
    if ip4 is not None or ip6 is not None:
        # Nova matches ip and ip6 as regexes from the start of each fixed address.
        fixed = addresses.fixed_ips_of(session, rows)

        def has_ip(r: Instance) -> bool:
            found = fixed.get(r.uuid, [])
            return any((ip4 is not None and ":" not in a and ip4.match(a)) or
                       (ip6 is not None and ":" in a and ip6.match(a)) for a in found)

        rows = [r for r in rows if has_ip(r)]
    return rows


def paginate(rows: list[Instance], params: Mapping[str, str]) -> tuple[list[Instance], str | None]:
    q = params
    if "marker" in q:
        ids = [r.uuid for r in rows]
        if q["marker"] not in ids:
            raise BadRequest(f"marker [{q['marker']}] not found")
        rows = rows[ids.index(q["marker"]) + 1:]
    if "limit" in q:
        try:
            limit = int(q["limit"])
        except ValueError as exc:
            raise BadRequest("limit param must be an integer") from exc
        if limit < 0:
            raise BadRequest("limit param must be positive")
        if len(rows) > limit:
            return rows[:limit], (rows[limit - 1].uuid if limit else None)
    return rows, None
