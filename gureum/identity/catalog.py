"""The service catalog, as tokens and /v3/auth/catalog carry it."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gureum.identity.models import Endpoint, Service

log = logging.getLogger(__name__)


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


# Keystone's substitutions in endpoint URLs; `$(name)s` is the older spelling of `%(name)s`.
PROJECT_KEYS = ("project_id", "tenant_id")


def format_url(url: str, values: dict[str, str | None]) -> str | None:
    """The URL with `%(key)s` filled in, or None when a key has no value for this token.

    keystone drops such endpoints from the catalog of a token without a project
    (and an endpoint naming an unknown key is malformed: dropped too, and logged).
    """
    if "%(" not in url and "$(" not in url:
        return url
    template = url.replace("$(", "%(")
    present = {k: v for k, v in values.items() if v is not None}
    try:
        return template % present
    except KeyError as exc:
        if exc.args and exc.args[0] not in PROJECT_KEYS:
            log.warning("endpoint URL %r names an unknown substitution %s; left out of the catalog", url, exc)
        return None
    except (TypeError, ValueError):
        log.warning("endpoint URL %r is malformed; left out of the catalog", url)
        return None


def format_catalog(catalog: list[dict[str, Any]], project_id: str | None, user_id: str | None) -> list[dict[str, Any]]:
    """The cached raw catalog as one token sees it (substituted URLs)."""
    values = {"project_id": project_id, "tenant_id": project_id, "user_id": user_id}
    formatted = []
    for service in catalog:
        endpoints = []
        for endpoint in service["endpoints"]:
            url = format_url(endpoint["url"], values)
            if url is not None:
                endpoints.append(endpoint if url == endpoint["url"] else {**endpoint, "url": url})
        formatted.append({**service, "endpoints": endpoints})
    return formatted
