"""The controller's HTTP app: one port, a path per service."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute

from gureum.cloud import Cloud
from gureum.http.endpoint import CLOUD_SCOPE_KEY
from gureum.identity.api import identity_app
from gureum.compute.agent_api import agent_app
from gureum.compute.api import compute_app
from gureum.console import proxy as console_proxy
from gureum.dashboard import dashboard_app
from gureum.dashboard.client import APP_SCOPE_KEY
from gureum.http.errors import render_cinder, render_keystone, render_neutron, render_nova, render_webob
from gureum.http.service_app import root_error_handlers
from gureum.image.api import image_app
from gureum.network.api import network_app
from gureum.objectstore.api.s3 import render_s3, s3_app, s3_bare_app
from gureum.objectstore.api.swift import render_swift, swift_app
from gureum.openapi import openapi_json
from gureum.services import SERVICES
from gureum.volume.api import volume_app

access_log = logging.getLogger("gureum.access")

# Where each service lives under the one port; the catalog is built from this.
SERVICE_PATHS = {entry.type: entry.path for entry in SERVICES}
# Each agent long-polls its desired state and consoles and reports every 10 s: at INFO those
# lines would bury the real requests, so they go at DEBUG (image downloads stay at INFO).
AGENT_ROUTINE = re.compile(r"/agent/v1/hosts/[^/]+/(desired|report|consoles)")


def access_level(path: str) -> int:
    return logging.DEBUG if AGENT_ROUTINE.fullmatch(path) else logging.INFO


class CloudMiddleware:
    """Hands every request the cloud, a request id, and writes the access log."""

    def __init__(self, app: Any, cloud: Cloud) -> None:
        self.app = app
        self.cloud = cloud

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope[CLOUD_SCOPE_KEY] = self.cloud
        # The dashboard calls the APIs in-process through this very app.
        scope[APP_SCOPE_KEY] = self
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        request_id = "req-" + str(uuid.uuid4())
        scope["gureum.request_id"] = request_id
        started = time.perf_counter()
        status_holder = {"status": 0}

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                # A service that names its requests itself (Swift's X-Trans-Id) keeps its id.
                if not any(key.lower() == b"x-openstack-request-id" for key, _ in headers):
                    headers.append((b"x-openstack-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            level = access_level(scope["path"])
            if access_log.isEnabledFor(level):
                client = scope.get("client") or ("-", 0)
                access_log.log(
                    level,
                    "%s %s %s -> %d in %.1f ms [%s]",
                    client[0],
                    scope["method"],
                    scope["path"],
                    status_holder["status"],
                    (time.perf_counter() - started) * 1000,
                    request_id,
                )


async def root(request: Request) -> JSONResponse:
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        {"name": "gureum", "services": {name: base + path for name, path in SERVICE_PATHS.items()}}
    )


def build_app(cloud: Cloud) -> CloudMiddleware:
    renderers = {SERVICE_PATHS["identity"]: render_keystone, SERVICE_PATHS["image"]: render_webob,
                 SERVICE_PATHS["compute"]: render_nova, SERVICE_PATHS["network"]: render_neutron,
                 SERVICE_PATHS["object-store"]: render_swift, SERVICE_PATHS["block-storage"]: render_cinder,
                 "/s3": render_s3}
    app = Starlette(
        # A path no mount takes is still answered in the format of the service it names.
        exception_handlers=root_error_handlers(renderers, render_keystone),
        routes=[
            Route("/", root),
            Route("/openapi.json", openapi_json),
            Mount(SERVICE_PATHS["identity"], app=identity_app()),
            Mount(SERVICE_PATHS["image"], app=image_app()),
            Mount(SERVICE_PATHS["compute"], app=compute_app()),
            Mount(SERVICE_PATHS["network"], app=network_app()),
            Mount(SERVICE_PATHS["object-store"], app=swift_app()),
            # S3 beside Swift, on the same buckets; not a catalog service of its own (as RGW's).
            Route("/s3", s3_bare_app()),
            Mount("/s3", app=s3_app()),
            # The dashboard: HTML pages, a client of the APIs above; not in the catalog.
            Mount("/dashboard", app=dashboard_app()),
            Mount(SERVICE_PATHS["block-storage"], app=volume_app()),
            # Serial consoles: the viewer's socket (Nova's serial URL) and the agent's, which
            # dials out from its node; spliced here.
            WebSocketRoute("/console/serial", console_proxy.viewer_socket),
            Route("/agent/v1/hosts/{hostname}/consoles", console_proxy.agent_poll, methods=["GET"]),
            WebSocketRoute("/agent/v1/hosts/{hostname}/console/{session}", console_proxy.agent_socket),
            # Agents only; not in the catalog.
            Mount("/agent", app=agent_app()),
        ]
    )
    return CloudMiddleware(app, cloud)
