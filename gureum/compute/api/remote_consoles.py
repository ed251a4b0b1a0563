"""POST /v2.1/servers/{id}/remote-consoles (2.6+): gureum serves serial consoles, on the same
port, at /console/serial?token=... (Nova's nova-serialproxy URL, without its extra service)."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.compute.api.common import microversion
from gureum.compute.consoles import open_serial_console
from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import BadRequest, NotFound

SCHEMA = {
    "type": "object",
    "properties": {"remote_console": {
        "type": "object",
        "properties": {"protocol": {"type": "string", "enum": ["vnc", "spice", "serial", "rdp", "mks"]},
                       "type": {"type": "string"}},
        "required": ["protocol", "type"],
        "additionalProperties": False}},
    "required": ["remote_console"],
    "additionalProperties": False,
}


def serial_url(req: ApiRequest, token: str) -> str:
    url = req.request.url
    scheme = "wss" if url.scheme == "https" else "ws"
    return f"{scheme}://{url.netloc}/console/serial?token={token}"


@endpoint(json_body=True, schema=SCHEMA, status=200, summary="Create a remote console")
def create_remote_console(req: ApiRequest) -> Any:
    if not microversion(req).at_least(6):
        raise NotFound("The resource could not be found.")
    wanted = req.body["remote_console"]
    if wanted["protocol"] != "serial" or wanted["type"] != "serial":
        raise BadRequest(f"Unavailable console type {wanted['protocol']}/{wanted['type']}: gureum serves "
                         "serial consoles only (protocol serial, type serial).")
    token = open_serial_console(req.cloud, req.context, req.path["server_id"])
    return {"remote_console": {"protocol": "serial", "type": "serial", "url": serial_url(req, token)}}


def routes() -> list[BaseRoute]:
    return [Route("/v2.1/servers/{server_id}/remote-consoles", create_remote_console, methods=["POST"])]
