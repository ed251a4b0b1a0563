"""The block storage app: Cinder's v3 routes under /volume, with microversions.

Cinder's URLs carry the project id (`/v3/{project_id}/volumes`); since 3.67 they may
leave it out. `ProjectPathMiddleware` accepts both: it takes the project segment off
before routing, so each route is declared once.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from gureum.http.errors import ApiError, render_cinder
from gureum.http.service_app import service_app
from gureum.volume.api import (
    attachments,
    limits,
    misc,
    quotas,
    snapshots,
    transfers,
    types,
    versions,
    volumes,
)
from gureum.volume.api.common import MICROVERSION_SCOPE_KEY
from gureum.volume.microversion import requested, response_headers

# First segments after /v3 that name a collection, not a project.
COLLECTIONS = frozenset({
    "volumes", "snapshots", "types", "os-quota-sets", "os-quota-class-sets", "limits", "os-availability-zone",
    "os-services", "extensions", "os-volume-transfer", "volume-transfers", "attachments", "backups", "messages",
    "scheduler-stats", "capabilities", "group_types", "groups", "group_snapshots", "qos-specs", "default-types",
    "workers", "manageable_volumes", "manageable_snapshots", "clusters", "os-hosts", "os-snapshot-manage",
    "os-volume-manage", "consistencygroups", "cgsnapshots", "resource_filters",
})
PROJECT_SCOPE_KEY = "gureum.volume.project_id"
ORIGINAL_PATH_SCOPE_KEY = "gureum.volume.original_path"


class ProjectPathMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            root_path = scope.get("root_path", "")
            path = scope["path"]
            route_path = path[len(root_path):] if root_path and path.startswith(root_path) else path
            parts = route_path.split("/")
            # ["", "v3", project, collection, ...]
            if len(parts) >= 4 and parts[1] == "v3" and parts[2] not in COLLECTIONS and parts[2]:
                scope = dict(scope)
                scope[PROJECT_SCOPE_KEY] = parts[2]
                scope[ORIGINAL_PATH_SCOPE_KEY] = path
                scope["path"] = root_path + "/".join(parts[:2] + parts[3:])
        await self.app(scope, receive, send)


class MicroversionMiddleware:
    """Reads the requested microversion once; answers with the version it served."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            version = requested(Headers(scope=scope))
        except ApiError as exc:
            await render_cinder(Request(scope), exc)(scope, receive, send)
            return
        scope[MICROVERSION_SCOPE_KEY] = version
        extra = [(k.lower().encode(), v.encode()) for k, v in response_headers(version).items()]

        async def send_with_version(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, receive, send_with_version)


def volume_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        Route("/", versions.versions_multiple_choices, methods=["GET"]),
        Route("/v3", versions.v3, methods=["GET"]),
        Route("/v3/", versions.v3, methods=["GET"]),
    ]
    for module in (volumes, snapshots, types, quotas, limits, misc, transfers, attachments):
        routes += module.routes()
    # `GET /volumes/` (an empty id) names nothing: Cinder answers 404, not the collection.
    for collection in ("volumes", "snapshots", "types", "backups", "attachments", "os-volume-transfer",
                       "volume-transfers"):
        routes.append(Route(f"/v3/{collection}/", versions.no_such_item, methods=["GET", "PUT", "DELETE"]))
    return routes


def volume_app() -> Starlette:
    app = service_app(volume_routes(), render_cinder)
    app.add_middleware(MicroversionMiddleware)
    app.add_middleware(ProjectPathMiddleware)
    return app
