"""Flavors: the catalog of instance sizes, who may see each, and the seed's defaults.

No HTTP here. Nova keeps a flavor's user-visible `flavorid` apart from an
internal integer id; gureum stores the flavorid as the primary key. A flavor is
deleted for good: an instance keeps its own copy of its flavor (`flavor_snapshot`),
so deleting a flavor never changes a running server.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select, true
from sqlalchemy.orm import Session

from gureum.compute.models import Flavor, FlavorAccess
from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest, Conflict, NotFound

# The seed's AWS-like catalog: name, vCPUs, RAM (MB), root disk (GB).
DEFAULT_FLAVORS: tuple[tuple[str, int, int, int], ...] = (
    ("t2.nano", 1, 512, 8),
    ("t2.micro", 1, 1024, 8),
    ("t2.small", 1, 2048, 20),
    ("t2.medium", 2, 4096, 40),
    ("t2.large", 2, 8192, 40),
    ("t2.xlarge", 4, 16384, 80),
    ("t2.2xlarge", 8, 32768, 160),
)
# Seeded flavors get ids derived from their names, so every controller that seeds
# the same database agrees on them (and two seeding at once collide, not duplicate).
_SEED_NAMESPACE = uuid.UUID("0b1c6d55-2c1f-4c4e-9a43-6f4c3e1d8a27")
MAX_INT = 0x7FFFFFFF
SQL_SP_FLOAT_MAX = 3.40282e38


def seed_default_flavors(session: Session) -> int:
    """Create the default flavors that are missing (by name); returns how many were made."""
    existing = set(session.execute(select(Flavor.name)).scalars())
    taken_ids = set(session.execute(select(Flavor.id)).scalars())
    made = 0
    for name, vcpus, ram, disk in DEFAULT_FLAVORS:
        if name in existing:
            continue
        flavor_id = str(uuid.uuid5(_SEED_NAMESPACE, name))
        if flavor_id in taken_ids:
            continue
        session.add(Flavor(id=flavor_id, name=name, vcpus=vcpus, memory_mb=ram, root_gb=disk,
                           ephemeral_gb=0, swap=0, rxtx_factor=1.0, is_public=True, disabled=False,
                           description=None, extra_specs={}))
        made += 1
    session.flush()
    return made


def id_from_ref(flavor_ref: str) -> str:
    """A flavorRef may be an id or a link to the flavor (nova takes the last path segment)."""
    ref = str(flavor_ref).strip()
    if "/" in ref:
        ref = ref.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return ref


def visible_condition(ctx: RequestContext) -> ColumnElement[bool]:
    """Admins see every flavor; others the public ones and private ones shared with their project."""
    if ctx.is_admin:
        return true()
    shared = exists().where(FlavorAccess.flavor_id == Flavor.id, FlavorAccess.project_id == (ctx.project_id or ""))
    return or_(Flavor.is_public.is_(True), shared)


def not_found(flavor_id: str) -> NotFound:
    return NotFound(f"Flavor {flavor_id} could not be found.")


def find_flavor(session: Session, flavor_ref: str, ctx: RequestContext) -> Flavor:
    """The flavor by id (or link) as the caller may see it; 404 "Flavor X could not be found." otherwise."""
    flavor_id = id_from_ref(flavor_ref)
    flavor = session.execute(
        select(Flavor).where(Flavor.id == flavor_id, visible_condition(ctx))
    ).scalar_one_or_none()
    if flavor is None:
        raise not_found(flavor_id)
    return flavor


def flavor_snapshot(flavor: Flavor) -> dict[str, Any]:
    """What an instance keeps of its flavor (Instance.flavor / old_flavor)."""
    return {
        "id": flavor.id,
        "name": flavor.name,
        "vcpus": flavor.vcpus,
        "ram": flavor.memory_mb,
        "disk": flavor.root_gb,
        "ephemeral": flavor.ephemeral_gb,
        "swap": flavor.swap,
        "rxtx_factor": flavor.rxtx_factor,
        "extra_specs": dict(flavor.extra_specs or {}),
    }


def _integer(value: Any, field: str, minimum: int) -> int:
    """nova's validate_integer: ints or digit strings within [minimum, MAX_INT]."""
    try:
        number = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None:
        raise BadRequest(f"Invalid input received: {field} must be an integer.")
    if number < minimum:
        raise BadRequest(f"Invalid input received: {field} must be >= {minimum}.")
    if number > MAX_INT:
        raise BadRequest(f"Invalid input received: {field} must be <= {MAX_INT}.")
    return number


def create_flavor(
    session: Session,
    *,
    name: str,
    ram: Any,
    vcpus: Any,
    disk: Any,
    flavor_id: Any = None,
    ephemeral: Any = 0,
    swap: Any = 0,
    rxtx_factor: Any = 1.0,
    is_public: bool = True,
    description: str | None = None,
) -> Flavor:
    name = name.strip()
    fields = {
        "memory_mb": _integer(ram, "ram", 1),
        "vcpus": _integer(vcpus, "vcpus", 1),
        "root_gb": _integer(disk, "disk", 0),
        "ephemeral_gb": _integer(ephemeral, "ephemeral", 0),
        "swap": _integer(swap, "swap", 0),
    }
    try:
        factor = float(rxtx_factor)
    except (TypeError, ValueError):
        factor = -1.0
    if not 0 < factor <= SQL_SP_FLOAT_MAX:
        raise BadRequest(
            f"Invalid input received: 'rxtx_factor' argument must be a float between 0 and {SQL_SP_FLOAT_MAX:g}"
        )
    # nova generates an id for a missing, null or empty one (v2 compatibility).
    new_id = str(flavor_id) if flavor_id not in (None, "") else str(uuid.uuid4())
    if session.execute(select(Flavor.id).where(Flavor.name == name)).first():
        raise Conflict(f"Flavor with name {name} already exists.")
    if session.get(Flavor, new_id) is not None:
        raise Conflict(f"Flavor with ID {new_id} already exists.")
    flavor = Flavor(id=new_id, name=name, rxtx_factor=factor, is_public=bool(is_public), disabled=False,
                    description=description, extra_specs={}, **fields)
    session.add(flavor)
    session.flush()
    return flavor


def access_projects(session: Session, flavor_id: str) -> list[str]:
    return list(session.execute(
        select(FlavorAccess.project_id).where(FlavorAccess.flavor_id == flavor_id).order_by(FlavorAccess.project_id)
    ).scalars())
