"""The service catalog, as tokens and /v3/auth/catalog carry it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gureum.identity.models import Endpoint, Service


def build_catalog(session: Session) -> list[dict[str, Any]]:
    services = session.execute(select(Service).where(Service.enabled.is_(True)).order_by(Service.type)).scalars()
    endpoints = session.execute(select(Endpoint).where(Endpoint.enabled.is_(True))).scalars().all()
    by_service: dict[str, list[Endpoint]] = {}
    for endpoint in endpoints:
        by_service.setdefault(endpoint.service_id, []).append(endpoint)
    catalog = []
    for service in services:
        catalog.append(
            {
                "endpoints": [
                    {
                        "id": e.id,
                        "interface": e.interface,
                        "region": e.region_id,
                        "region_id": e.region_id,
                        "url": e.url,
                    }
                    for e in sorted(by_service.get(service.id, []), key=lambda e: e.interface)
                ],
                "id": service.id,
                "type": service.type,
                "name": service.name,
            }
        )
    return catalog
