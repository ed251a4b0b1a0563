"""Calls into gureum's own OpenStack APIs, in-process, with the user's token.

The dashboard is a client of the APIs like the CLI is: policy, microversions, quotas and
errors are exactly the CLI's. A raw ASGI call into the same app costs about half a
millisecond (httpx's ASGI transport about four times that), so this helper builds the scope
itself. Calls run concurrently with asyncio.gather; the API endpoints run their handlers
in worker threads.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode

# The top-level app (CloudMiddleware) puts itself here, so a page can call any mount.
APP_SCOPE_KEY = "gureum.app"
COMPUTE_MICROVERSION = "2.79"

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def error_message(self) -> str:
        """The message of an OpenStack error body, whatever the service's format."""
        try:
            data = self.json()
        except ValueError:
            return self.body.decode(errors="replace")[:500]
        return _find_message(data) or f"HTTP {self.status}"


def _find_message(data: Any) -> str:
    if isinstance(data, dict):
        for key in ("message", "NeutronError", "error", "badRequest", "itemNotFound", "forbidden",
                    "conflictingRequest", "overLimit", "computeFault", "title"):
            if key in data:
                found = data[key]
                if isinstance(found, str):
                    return found
                nested = _find_message(found)
                if nested:
                    return nested
        for value in data.values():
            nested = _find_message(value)
            if nested:
                return nested
    return ""


class ApiFailed(Exception):
    """A call whose answer the page cannot use; carries the API's own words."""

    def __init__(self, response: ApiResponse, what: str) -> None:
        super().__init__(f"{what}: {response.error_message}")
        self.response = response
        self.what = what

    @property
    def status(self) -> int:
        return self.response.status


@dataclass
class ApiClient:
    app: ASGIApp
    token: str | None
    # The browser's request: scheme, host and client address carry into the API's scope.
    outer_scope: dict[str, Any] = field(default_factory=dict)

    async def call(self, method: str, path: str, *, json_body: Any = None, query: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None, body: bytes | None = None,
                   stream: AsyncIterator[bytes] | None = None) -> ApiResponse:
        all_headers = {"accept": "application/json"}
        if self.token:
            all_headers["x-auth-token"] = self.token
        if path.startswith("/compute/"):
            all_headers["openstack-api-version"] = f"compute {COMPUTE_MICROVERSION}"
            all_headers["x-openstack-nova-api-version"] = COMPUTE_MICROVERSION
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers["content-type"] = "application/json"
        if body is not None:
            all_headers["content-length"] = str(len(body))
        all_headers.update({k.lower(): v for k, v in (headers or {}).items()})
        if "?" in path:
            path, _, query_string = path.partition("?")
        else:
            query_string = urlencode({k: v for k, v in (query or {}).items() if v is not None}, doseq=True)
        outer = self.outer_scope
        host = dict(outer.get("headers") or []).get(b"host", b"localhost")
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method.upper(),
            "scheme": {"ws": "http", "wss": "https"}.get(outer.get("scheme", "http"), outer.get("scheme", "http")), "server": outer.get("server"), "client": outer.get("client"),
            # As an ASGI server gives them: the path decoded, raw_path as sent (callers quote names).
            "path": unquote(path), "raw_path": path.encode(), "root_path": "", "query_string": query_string.encode(),
            "headers": [(b"host", host)] + [(k.encode(), v.encode()) for k, v in all_headers.items()],
            "extensions": {},
        }
        return await self._run(scope, body, stream)

    async def _run(self, scope: dict[str, Any], body: bytes | None, stream: AsyncIterator[bytes] | None) -> ApiResponse:
        chunks: list[bytes] = []
        start: dict[str, Any] = {}
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if stream is not None:
                try:
                    return {"type": "http.request", "body": await stream.__anext__(), "more_body": True}
                except StopAsyncIteration:
                    return {"type": "http.request", "body": b"", "more_body": False}
            if not sent:
                sent = True
                return {"type": "http.request", "body": body or b"", "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects first
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        headers = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
        return ApiResponse(start.get("status", 500), headers, b"".join(chunks))

    async def get_json(self, path: str, what: str, **query: Any) -> Any:
        response = await self.call("GET", path, query=query or None)
        if not response.ok:
            raise ApiFailed(response, what)
        return response.json()

    async def gather(self, *calls: Awaitable[Any]) -> list[Any]:
        return list(await asyncio.gather(*calls))
