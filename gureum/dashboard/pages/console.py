"""The serial console in the page: xterm.js over a websocket that the controller splices to
the agent's. The session comes from Nova's os-remote-consoles, called with the user's token
(policy and errors as for `openstack console url show --serial`)."""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs, urlsplit

from starlette.responses import Response
from starlette.websockets import WebSocket

from gureum.console.broker import broker_of
from gureum.console.proxy import splice_viewer
from gureum.dashboard.session import client_for, origin_ok, viewer_of
from gureum.dashboard.web import Page, page
from gureum.http.endpoint import CLOUD_SCOPE_KEY


@page
async def console_page(p: Page) -> Response:
    server_id = p.request.path_params["server_id"]
    server = await p.api.get_json(f"/compute/v2.1/servers/{server_id}", "Showing the instance")
    return p.render("console.html", title=f"Console of {server['server']['name']}", s=server["server"])


async def console_socket(websocket: WebSocket) -> None:
    viewer = await viewer_of(websocket)
    sent = websocket.query_params.get("csrf", "")
    if viewer is None or not origin_ok(websocket) or not hmac.compare_digest(sent, viewer.csrf):
        await websocket.close(code=1008, reason="refused: log in again, from this site")
        return
    server_id = websocket.path_params["server_id"]
    answer = await client_for(websocket, viewer.token).call(
        "POST", f"/compute/v2.1/servers/{server_id}/remote-consoles",
        json_body={"remote_console": {"protocol": "serial", "type": "serial"}})
    await websocket.accept()
    if not answer.ok:
        await websocket.send_text(f"\r\n[gureum: {answer.error_message}]\r\n")
        await websocket.close(code=1011)
        return
    token = parse_qs(urlsplit(answer.json()["remote_console"]["url"]).query)["token"][0]
    cloud = websocket.scope[CLOUD_SCOPE_KEY]
    session = broker_of(cloud).sessions.get(token)
    if session is None:
        await websocket.close(code=1011)
        return
    await splice_viewer(websocket, cloud, session)
