"""/v2.1/os-availability-zone: the zones the compute hosts are in.

A zone is available when at least one enabled nova-compute service is in it; the
controller's services live in the hidden "internal" zone, which only /detail shows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from starlette.routing import BaseRoute, Route

from gureum.compute.api.common import check_query, strtime
from gureum.compute.api.flavors import enforce
from gureum.compute.api.services import INTERNAL_ZONE, ServiceRow, all_rows
from gureum.http.endpoint import ApiRequest, endpoint


def zones(session: Session) -> tuple[list[str], list[str], list[ServiceRow]]:
    """(available zones, unavailable zones, every service), zones sorted by name."""
    rows = all_rows(session)
    available = sorted({r.zone for r in rows if not r.disabled})
    unavailable = sorted({r.zone for r in rows if r.disabled} - set(available))
    return available, unavailable, rows


@endpoint(summary="List availability zones")
def list_zones(req: ApiRequest) -> dict[str, Any]:
    check_query(req, {}, strict_since=102)
    enforce(req, "os_compute_api:os-availability-zone:list", {})
    with req.cloud.db.session() as session:
        available, unavailable, _ = zones(session)
    info = [{"zoneName": z, "zoneState": {"available": True}, "hosts": None} for z in available if z != INTERNAL_ZONE]
    info += [{"zoneName": z, "zoneState": {"available": False}, "hosts": None}
             for z in unavailable if z != INTERNAL_ZONE]
    return {"availabilityZoneInfo": info}


@endpoint(summary="List availability zones with their hosts and services")
def list_zones_detail(req: ApiRequest) -> dict[str, Any]:
    check_query(req, {}, strict_since=102)
    enforce(req, "os_compute_api:os-availability-zone:detail", {})
    with req.cloud.db.session() as session:
        available, unavailable, rows = zones(session)
    info: list[dict[str, Any]] = []
    for zone in available:
        hosts: dict[str, dict[str, Any]] = {}
        for row in rows:
            if row.zone != zone or row.disabled:
                continue
            hosts.setdefault(row.host, {})[row.binary] = {
                "available": row.up,
                "active": not row.disabled,
                "updated_at": strtime(row.updated_at),
            }
        info.append({"zoneName": zone, "zoneState": {"available": True}, "hosts": hosts})
    info += [{"zoneName": z, "zoneState": {"available": False}, "hosts": None} for z in unavailable]
    return {"availabilityZoneInfo": info}


def routes() -> list[BaseRoute]:
    return [
        Route("/v2.1/os-availability-zone", list_zones, methods=["GET"]),
        Route("/v2.1/os-availability-zone/detail", list_zones_detail, methods=["GET"]),
    ]
