"""What `gureum up` prints once it listens: every service the app really serves, and where.

The list is read from the built app's own routes, so a service that is not
mounted is not listed, and one added to the app is listed without touching
this file. A mount the catalog knows (gureum.services) is named by its catalog
type and shown at its catalog URL; other mounts (S3, the dashboard) by their path.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import Mount

from gureum.services import SERVICES, ServiceEntry, catalog_url

# Mounts that are not for people: the agents' own API (a node's agent finds it by --controller).
INTERNAL_MOUNTS = frozenset({"/agent"})


def mounted_paths(app: Any) -> list[str]:
    """The mount points of the app `gureum.app.build_app` returned, in the order it routes them."""
    starlette_app = getattr(app, "app", app)  # CloudMiddleware wraps the Starlette app
    paths: list[str] = []
    for route in starlette_app.routes:
        if isinstance(route, Mount) and route.path not in paths:
            paths.append(route.path)
    return paths


def _plain_catalog_url(base_url: str, entry: ServiceEntry) -> str:
    """The catalog URL without its per-project part (Cinder's /%(project_id)s, Swift's /AUTH_%(project_id)s)."""
    url = catalog_url(base_url, entry)
    return url.split("%(", 1)[0].rsplit("/", 1)[0] if "%(" in url else url


def served_services(app: Any, base_url: str) -> list[tuple[str, str]]:
    """(name, URL) of each service the app mounts, catalog services first as the catalog lists them."""
    mounted = [path for path in mounted_paths(app) if path not in INTERNAL_MOUNTS]
    served: list[tuple[str, str]] = []
    named: set[str] = set()
    for entry in SERVICES:
        # Cinder has two catalog types for one mount: list the mount once, by its first type.
        if entry.path in mounted and entry.path not in named:
            served.append((entry.type, _plain_catalog_url(base_url, entry)))
            named.add(entry.path)
    served += [(path.strip("/"), base_url + path) for path in mounted if path not in named]
    return served


def start_banner(version: str, base_url: str, services: list[tuple[str, str]], notes: dict[str, str],
                 extra: list[tuple[str, str]]) -> list[str]:
    """The lines: a title, one aligned line per service (with a note, e.g. how to log in), then `extra`."""
    rows = [(name, f"{url} ({notes[name]})" if name in notes else url) for name, url in services] + extra
    width = max(len(name) for name, _ in rows) + 1
    return [f"gureum {version} is up at {base_url}"] + [f"  {name + ':':<{width}} {text}" for name, text in rows]
