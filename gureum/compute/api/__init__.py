"""The compute app: Nova's v2.1 routes, with microversions."""

from __future__ import annotations

import importlib
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route

from gureum.compute.api.common import MICROVERSION_SCOPE_KEY
from gureum.compute.api import versions
from gureum.compute.microversion import requested, response_headers
from gureum.http.errors import ApiError, render_nova
from gureum.http.service_app import service_app
from starlette.datastructures import Headers
from starlette.requests import Request

# Each module exposes `routes() -> list[BaseRoute]` with paths under /v2.1.
ROUTE_MODULES: tuple[str, ...] = (
    "gureum.compute.api.flavors",
    "gureum.compute.api.keypairs",
    "gureum.compute.api.quotas",
    "gureum.compute.api.limits",
    "gureum.compute.api.hypervisors",
    "gureum.compute.api.services",
    "gureum.compute.api.availability_zones",
    "gureum.compute.api.server_groups",
    "gureum.compute.api.servers",
    "gureum.compute.api.server_actions",
    "gureum.compute.api.server_extras",
    "gureum.compute.api.images",
    "gureum.compute.api.volume_attachments",
    "gureum.compute.api.volumes",
    "gureum.compute.api.remote_consoles",
    "gureum.compute.api.security_groups",
)


class MicroversionMiddleware:
    """Reads the requested microversion once, answers with the version it served."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            version = requested(Headers(scope=scope))
        except ApiError as exc:
            response = render_nova(Request(scope), exc)
            await response(scope, receive, send)
            return
        scope[MICROVERSION_SCOPE_KEY] = version
        extra = [(k.lower().encode(), v.encode()) for k, v in response_headers(version).items()]
        # Nova names its request id X-Compute-Request-Id too; instance actions record that id.
        if scope.get("gureum.request_id"):
            extra.append((b"x-compute-request-id", scope["gureum.request_id"].encode()))

        async def send_with_version(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, receive, send_with_version)


def compute_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        Route("/", versions.versions, methods=["GET"]),
        Route("/v2", versions.v20, methods=["GET"]),
        Route("/v2/", versions.v20, methods=["GET"]),
        Route("/v2.1", versions.v21, methods=["GET"]),
        Route("/v2.1/", versions.v21, methods=["GET"]),
    ]
    for name in ROUTE_MODULES:
        routes += importlib.import_module(name).routes()
    return routes


def compute_app() -> Starlette:
    app = service_app(compute_routes(), render_nova)
    app.add_middleware(MicroversionMiddleware)
    return app
