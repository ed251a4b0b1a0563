"""The websockets: the viewer's (`/console/serial?token=`, Nova's serial URL, and the
dashboard's), the agent's (`/agent/v1/hosts/{host}/console/{session}`), and the agent's long
poll for sessions wanted on its node. Bytes pass through unchanged, both ways."""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from gureum.console.broker import ConsoleSession, broker_of
from gureum.http.endpoint import CLOUD_SCOPE_KEY

log = logging.getLogger(__name__)

AGENT_TOKEN_HEADER = "x-gureum-agent-token"
AGENT_WAIT_SECONDS = 30.0
MAX_POLL_SECONDS = 30.0


def _agent_ok(cloud: Any, headers: Any) -> bool:
    sent = headers.get(AGENT_TOKEN_HEADER, "")
    expected = cloud.compute.agent_token
    return bool(sent) and hmac.compare_digest(sent.encode(), expected.encode())


async def agent_poll(request: Request) -> JSONResponse:
    """Long poll: the console sessions a viewer waits for on this host."""
    cloud = request.scope[CLOUD_SCOPE_KEY]
    if not _agent_ok(cloud, request.headers):
        return JSONResponse({"error": {"code": 401, "message": "An agent must send its agent token."}},
                            status_code=401)
    try:
        wait = min(float(request.query_params.get("wait", "0")), MAX_POLL_SECONDS)
    except ValueError:
        return JSONResponse({"error": {"code": 400, "message": "wait is a number of seconds"}}, status_code=400)
    found = await broker_of(cloud).wait_pending(request.path_params["hostname"], wait)
    return JSONResponse({"consoles": [{"session": s.id, "instance_id": s.instance_uuid} for s in found]})


async def agent_socket(websocket: WebSocket) -> None:
    """The agent dialled in for a session: hand its socket to the waiting viewer."""
    cloud = websocket.scope[CLOUD_SCOPE_KEY]
    if not _agent_ok(cloud, websocket.headers):
        await websocket.close(code=1008, reason="agent token required")
        return
    session = broker_of(cloud).sessions.get(websocket.path_params["session"])
    if session is None or session.hostname != websocket.path_params["hostname"] or session.agent_socket is None \
            or session.agent_socket.done():
        await websocket.close(code=1008, reason="no such console session")
        return
    await websocket.accept()
    session.agent_socket.set_result(websocket)
    await session.finished.wait()


async def viewer_socket(websocket: WebSocket) -> None:
    """`/console/serial?token=...`: what `openstack console url show --serial` hands out."""
    cloud = websocket.scope[CLOUD_SCOPE_KEY]
    session = broker_of(cloud).sessions.get(websocket.query_params.get("token", ""))
    if session is None or session.wanted:
        await websocket.close(code=1008, reason="unknown or used console token")
        return
    subprotocols = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol="binary" if "binary" in subprotocols else None)
    await splice_viewer(websocket, cloud, session)


async def splice_viewer(viewer: WebSocket, cloud: Any, session: ConsoleSession) -> None:
    """Wait for the agent's socket, then copy bytes both ways until either side ends."""
    broker = broker_of(cloud)
    arriving = broker.want(session)
    try:
        agent: WebSocket = await asyncio.wait_for(arriving, AGENT_WAIT_SECONDS)
    except TimeoutError:
        broker.end(session)
        await viewer.send_text(f"\r\n[gureum: the agent of host {session.hostname} did not answer]\r\n")
        await viewer.close(code=1011, reason="the node's agent did not dial in")
        return

    async def viewer_to_agent() -> None:
        while True:
            message = await viewer.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes") or (message.get("text") or "").encode()
            if data:
                await agent.send_bytes(data)

    async def agent_to_viewer() -> None:
        while True:
            message = await agent.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes") or (message.get("text") or "").encode()
            if data:
                await viewer.send_bytes(data)

    tasks = [asyncio.create_task(viewer_to_agent()), asyncio.create_task(agent_to_viewer())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except WebSocketDisconnect:
        pass
    finally:
        for task in tasks:
            task.cancel()
        broker.end(session)
        for side in (viewer, agent):
            try:
                await side.close()
            except RuntimeError:
                pass  # already closed
