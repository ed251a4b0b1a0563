"""A service's own ASGI app: its routes, rendered errors in that service's format."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from gureum.http.errors import ApiError, ErrorRenderer

log = logging.getLogger(__name__)

HTTP_DETAIL_MESSAGES = {
    404: "The resource could not be found.",
    405: "The method is not allowed for the requested URL.",
}


def service_app(routes: Sequence[BaseRoute], render: ErrorRenderer) -> Starlette:
    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        if exc.status >= 500:
            log.error("%s %s -> %d: %s", request.method, request.url.path, exc.status, exc.message)
        return render(request, exc)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = HTTP_DETAIL_MESSAGES.get(exc.status_code, str(exc.detail))
        return render(request, ApiError(message, status=exc.status_code, headers=dict(exc.headers or {})))

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        error = ApiError(
            "An unexpected error prevented the server from fulfilling your request. "
            "The controller log has the details.",
            status=500,
        )
        return render(request, error)

    return Starlette(
        routes=list(routes),
        exception_handlers={ApiError: on_api_error, HTTPException: on_http_error, Exception: on_unexpected},
        middleware=[Middleware(RefuseNul, render=render)],
    )


class RefuseNul:
    """A NUL character in the path or the query string never names anything, and
    PostgreSQL refuses it in text outright (a DataError, so a 500). Answer for it here,
    once for every service: 404 where a resource is looked up, 400 where one is written
    or the query string holds it. (JSON bodies are checked in read_json_body.)"""

    def __init__(self, app: Any, render: ErrorRenderer) -> None:
        self.app = app
        self.render = render

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            error = None
            if "\x00" in scope.get("path", ""):
                if scope.get("method") in ("GET", "HEAD", "DELETE"):
                    error = ApiError(HTTP_DETAIL_MESSAGES[404], status=404)
                else:
                    error = ApiError("Invalid input: the URL path holds a NUL character.", status=400)
            elif b"%00" in scope.get("query_string", b""):
                error = ApiError("Invalid input: the query string holds a NUL character.", status=400)
            if error is not None:
                await self.render(Request(scope, receive), error)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def root_error_handlers(renderers: Mapping[str, ErrorRenderer], default: ErrorRenderer) -> dict[Any, Any]:
    """Exception handlers for the root app that mounts the services.

    The root app answers only when no mount matched: an unknown top-level path, or a
    service path its mount pattern refuses (a path parameter holding a newline,
    `/identity/v3/projects/a%0Ab`, since a mount matches `.*`). Such answers are
    rendered in the format of the service whose prefix the path has, so clients still
    parse them, instead of Starlette's plain-text "Not Found".
    """

    def renderer_for(path: str) -> ErrorRenderer:
        for prefix, render in renderers.items():
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return render
        return default

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = HTTP_DETAIL_MESSAGES.get(exc.status_code, str(exc.detail))
        error = ApiError(message, status=exc.status_code, headers=dict(exc.headers or {}))
        return renderer_for(request.url.path)(request, error)

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        error = ApiError(
            "An unexpected error prevented the server from fulfilling your request. "
            "The controller log has the details.",
            status=500,
        )
        return renderer_for(request.url.path)(request, error)

    return {HTTPException: on_http_error, Exception: on_unexpected}
