"""Compute quotas as nova's database driver keeps them: defaults, class and project limits, usage.

No HTTP here. Usage is counted, never stored: instances, cores and RAM from the
live (not deleted) instances of a project and the flavor each one carries,
server groups from the groups table, key pairs per user. -1 means unlimited.

The "default" quota class (os-quota-class-sets/default) overrides the built-in
defaults for every project; its rows live in the same table as the projects'
own, under the owner id `class:<name>`, which no real project id can take.
Per-user limits need a `user_id` column on QuotaLimit (asked of the lead); until
the model has one, a request for them is refused with a 400 that says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from gureum.compute.models import Instance, QuotaLimit, ServerGroup
from gureum.http.errors import BadRequest, Forbidden

# nova's [quota] defaults, and the four nova-network leftovers it still shows before 2.36.
DEFAULTS: dict[str, int] = {
    "instances": 10,
    "cores": 20,
    "ram": 51200,
    "metadata_items": 128,
    "injected_files": 5,
    "injected_file_content_bytes": 10240,
    "injected_file_path_bytes": 255,
    "key_pairs": 100,
    "server_groups": 10,
    "server_group_members": 10,
    "fixed_ips": -1,
    "floating_ips": -1,
    "security_groups": -1,
    "security_group_rules": -1,
}
RESOURCES: tuple[str, ...] = tuple(sorted(DEFAULTS))
NETWORK_LEFTOVERS = ("fixed_ips", "floating_ips", "security_group_rules", "security_groups")
# Removed from responses at 2.57 (personality files went away with 2.57).
INJECTED_FILES = ("injected_files", "injected_file_content_bytes", "injected_file_path_bytes")
# Counted per user or per group, so a project's detail view shows 0 in use (as nova does).
PER_USER = ("key_pairs", "server_group_members")
CLASS_PREFIX = "class:"
PER_USER_LIMITS = hasattr(QuotaLimit, "user_id")
DEFAULT_CLASS = "default"
MAX_LIMIT = 0x7FFFFFFF


def _user_column() -> Any:
    # The column may not exist yet (see the module note), hence getattr.
    return getattr(QuotaLimit, "user_id")  # noqa: B009


def _rows(session: Session, owner: str, user_id: str = "") -> dict[str, int]:
    query = select(QuotaLimit).where(QuotaLimit.project_id == owner)
    if PER_USER_LIMITS:
        query = query.where(_user_column() == user_id)
    elif user_id:
        return {}
    return {row.resource: row.hard_limit for row in session.execute(query).scalars()}


def class_limits(session: Session, class_name: str = DEFAULT_CLASS) -> dict[str, int]:
    """A quota class: the built-in defaults overridden by the class's own rows."""
    values = dict(DEFAULTS)
    if class_name == DEFAULT_CLASS:
        values.update(_rows(session, CLASS_PREFIX + class_name))
    else:
        # Any other class starts from the default class, as nova's get_class_quotas does.
        values.update(_rows(session, CLASS_PREFIX + DEFAULT_CLASS))
        values.update(_rows(session, CLASS_PREFIX + class_name))
    return values


def user_rows(session: Session, project_id: str, user_id: str) -> dict[str, int]:
    return _rows(session, project_id, user_id)


def limits_for(session: Session, project_id: str, user_id: str | None = None) -> dict[str, int]:
    """The limits in force: defaults < default class < the project's own < the user's own (if asked)."""
    values = class_limits(session)
    values.update(_rows(session, project_id))
    if user_id:
        values.update(user_rows(session, project_id, user_id))
    return values


def usage_for(session: Session, project_id: str, user_id: str | None = None) -> dict[str, int]:
    """In use by a project (or one user in it), as nova's quota detail shows it.

    Per-user resources (key_pairs, server_group_members) show 0, as nova's do.
    """
    used = {name: 0 for name in RESOURCES}
    instances = select(Instance.flavor).where(Instance.project_id == project_id, Instance.deleted.is_(False))
    groups = select(func.count()).select_from(ServerGroup).where(ServerGroup.project_id == project_id)
    if user_id:
        instances = instances.where(Instance.user_id == user_id)
        groups = groups.where(ServerGroup.user_id == user_id)
    for flavor in session.execute(instances).scalars():
        flavor = flavor or {}
        used["instances"] += 1
        used["cores"] += int(flavor.get("vcpus", 0) or 0)
        used["ram"] += int(flavor.get("ram", 0) or 0)
    used["server_groups"] = session.execute(groups).scalar_one()
    return used


def _over(limit: int, used: int, delta: int) -> bool:
    return limit >= 0 and used + delta > limit


def quota_exceeded(overs: list[str], requested: Mapping[str, object], used: Mapping[str, int],
                   limits: Mapping[str, int]) -> Forbidden:
    """Nova's TooManyInstances message, e.g.
    "Quota exceeded for cores: Requested 2, but already used 19 of 20 cores"."""
    names = ", ".join(overs)
    reqs = ", ".join(str(requested[r]) for r in overs)
    useds = ", ".join(str(used[r]) for r in overs)
    alloweds = ", ".join(str(limits[r]) for r in overs)
    return Forbidden(f"Quota exceeded for {names}: Requested {reqs}, but already used {useds} of {alloweds} {names}")


def _scopes(session: Session, project_id: str, user_id: str | None) -> list[tuple[dict[str, int], dict[str, int]]]:
    """(limits, usage) to check: the project's, and the user's when the user has limits of their own."""
    scopes = [(limits_for(session, project_id), usage_for(session, project_id))]
    if user_id and user_rows(session, project_id, user_id):
        scopes.append((limits_for(session, project_id, user_id), usage_for(session, project_id, user_id)))
    return scopes


def check_quota(session: Session, project_id: str, deltas: Mapping[str, int], user_id: str | None = None) -> None:
    """403 in nova's words when adding `deltas` (instances/cores/ram/server_groups) would go over.

    For resize pass the growth only (new minus old, when positive), as nova does.
    """
    for limits, used in _scopes(session, project_id, user_id):
        overs = [r for r in RESOURCES if r in deltas and deltas[r] > 0 and _over(limits[r], used[r], deltas[r])]
        if overs:
            raise quota_exceeded(overs, deltas, used, limits)


def check_instances(session: Session, project_id: str, vcpus: int, ram: int, min_count: int = 1,
                    max_count: int = 1, user_id: str | None = None) -> int:
    """How many of `min_count..max_count` instances of this size fit; 403 as nova words it if not min_count.

    Returns the number to create (nova creates as many as fit, up to max_count).
    """
    allowed = max_count
    for limits, used in _scopes(session, project_id, user_id):
        for resource, size in (("instances", 1), ("cores", vcpus), ("ram", ram)):
            if limits[resource] >= 0 and size > 0:
                allowed = min(allowed, (limits[resource] - used[resource]) // size)
        if allowed < min_count:
            wanted = {"instances": max_count, "cores": max_count * vcpus, "ram": max_count * ram}
            overs = [r for r in ("cores", "instances", "ram") if _over(limits[r], used[r], wanted[r])]
            requested: dict[str, object] = dict(wanted)
            requested["instances"] = str(min_count) if min_count == max_count else f"{min_count}-{max_count}"
            raise quota_exceeded(overs, requested, used, limits)
    return allowed


def check_server_group_members(session: Session, project_id: str, group_id: str, user_id: str, adding: int = 1) -> None:
    """server_group_members counts a user's servers in one group (nova's rule)."""
    limit = limits_for(session, project_id)["server_group_members"]
    if limit < 0:
        return
    members = session.execute(
        select(func.count()).select_from(Instance).where(
            Instance.server_group_id == group_id, Instance.user_id == user_id, Instance.deleted.is_(False)
        )
    ).scalar_one()
    if members + adding > limit:
        raise Forbidden("Quota exceeded, too many servers in group")


def set_limits(session: Session, owner: str, values: Mapping[str, int], user_id: str = "") -> None:
    """Store limits for a project (or class owner), or for one user in the project."""
    if user_id and not PER_USER_LIMITS:
        raise BadRequest("Per-user quotas are not supported yet; set the project's quota instead.")
    for resource, value in values.items():
        query = select(QuotaLimit).where(QuotaLimit.project_id == owner, QuotaLimit.resource == resource)
        if PER_USER_LIMITS:
            query = query.where(_user_column() == user_id)
        row = session.execute(query).scalar_one_or_none()
        if row is None:
            extra = {"user_id": user_id} if PER_USER_LIMITS else {}
            session.add(QuotaLimit(project_id=owner, resource=resource, hard_limit=int(value), **extra))
        else:
            row.hard_limit = int(value)
    session.flush()


def delete_limits(session: Session, project_id: str, user_id: str | None = None) -> None:
    """Back to the defaults: a user's own limits, or the project's and all its users'."""
    query = delete(QuotaLimit).where(QuotaLimit.project_id == project_id)
    if user_id:
        if not PER_USER_LIMITS:
            return
        query = query.where(_user_column() == user_id)
    session.execute(query)

