"""The controller's side of the agent protocol (see gureum/agent/protocol.py), at /agent/v1."""

from __future__ import annotations

import asyncio
import hmac
import time
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from gureum.agent.protocol import AGENT_TOKEN_HEADER, HostReport
from gureum.compute.service import service_context
from gureum.http.endpoint import cloud_of, read_json_body
from gureum.http.errors import BadRequest, Unauthorized, render_keystone
from gureum.http.service_app import service_app
from gureum.image.transfers import receive_image_data

MAX_WAIT_SECONDS = 30.0
# Re-read the revision this often while waiting: catches changes made by other controllers.
RECHECK_SECONDS = 2.0
MAX_REPORT_BYTES = 64 * 1024 * 1024


def _require_agent(request: Request) -> None:
    token = request.headers.get(AGENT_TOKEN_HEADER, "")
    expected = cloud_of(request).compute.agent_token
    if not token or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized(f"An agent must send {AGENT_TOKEN_HEADER} with the controller's agent token.")


async def report(request: Request) -> JSONResponse:
    _require_agent(request)
    cloud = cloud_of(request)
    body = await read_json_body(request, MAX_REPORT_BYTES, ("application/json",))
    try:
        parsed = HostReport.from_dict(body)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadRequest(f"Malformed host report: {exc}") from exc
    if parsed.hostname != request.path_params["hostname"]:
        raise BadRequest("The report's hostname differs from the one in the URL.")
    revision = await run_in_threadpool(cloud.compute.apply_report, parsed)
    return JSONResponse({"desired_revision": revision})


async def desired(request: Request) -> JSONResponse:
    """Answer when the host's revision passes `after`, or after `wait` seconds."""
    _require_agent(request)
    cloud = cloud_of(request)
    hostname = request.path_params["hostname"]
    try:
        after = int(request.query_params.get("after", "-1"))
        wait = min(float(request.query_params.get("wait", "0")), MAX_WAIT_SECONDS)
    except ValueError as exc:
        raise BadRequest("after must be an integer and wait a number of seconds") from exc
    deadline = time.monotonic() + wait
    while True:
        host_id = await run_in_threadpool(_host_id, cloud, hostname)
        event = cloud.compute.signals.event_for(host_id) if host_id is not None else None
        state = await run_in_threadpool(cloud.compute.desired_state, hostname)
        remaining = deadline - time.monotonic()
        if state.revision > after or remaining <= 0:
            return JSONResponse(state.to_dict())
        timeout = min(remaining, RECHECK_SECONDS)
        if event is None:
            await asyncio.sleep(timeout)
            continue
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass


def _host_id(cloud: Any, hostname: str) -> int | None:
    with cloud.db.read() as session:
        host = cloud.compute.host_by_name(session, hostname)
        return host.id if host else None


async def image_file(request: Request) -> Response:
    """An image's bytes for a host's image cache."""
    _require_agent(request)
    cloud = cloud_of(request)
    path = await run_in_threadpool(cloud.image.image_data_path, request.path_params["image_id"])
    return FileResponse(path, media_type="application/octet-stream")


async def _body_chunks(request: Request) -> Any:
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect:
        raise BadRequest("The agent closed the connection before the snapshot arrived.") from None


async def snapshot_file(request: Request) -> Response:
    """A snapshot's bytes from the agent that took it, stored as the image's data."""
    _require_agent(request)
    cloud = cloud_of(request)
    image_id = request.path_params["image_id"]
    owner = request.query_params.get("project_id", "")
    if not owner:
        raise BadRequest("project_id is required: the snapshot's owner.")
    length = request.headers.get("content-length")
    size = int(length) if length and length.isdigit() else None
    await receive_image_data(cloud.image, service_context(owner), image_id, "upload", _body_chunks(request), size)
    return Response(status_code=204)


def agent_app() -> Starlette:
    routes = [
        Route("/v1/hosts/{hostname}/report", report, methods=["POST"]),
        Route("/v1/hosts/{hostname}/desired", desired, methods=["GET"]),
        Route("/v1/images/{image_id}/file", image_file, methods=["GET"]),
        Route("/v1/images/{image_id}/file", snapshot_file, methods=["PUT"]),
    ]
    return service_app(routes, render_keystone)

