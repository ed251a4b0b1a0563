"""/v2.1/servers/{id}/os-volume_attachments: attach, list, show and detach a server's volumes.

Each handler checks the body's form and the microversion's fields, calls one
ComputeService method (compute/block_devices.py: policy, lock, state, the volume
service in one transaction) and renders Nova's shape for the microversion.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.compute.api.common import limited, microversion
from gureum.compute.block_devices import Mapping
from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import BadRequest

UUID_PATTERN = "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
# Nova's parameter_types: a device path (/dev/vdb, /dev/xvdc, /dev/sda1) and a tag.
DEVICE_PATTERN = "(^/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$"
TAG = {"type": "string", "minLength": 1, "maxLength": 60, "pattern": "^[^,/]*$"}
ATTACH_SCHEMA = {
    "type": "object",
    "properties": {
        "volumeAttachment": {
            "type": "object",
            "properties": {
                "volumeId": {"type": "string", "pattern": UUID_PATTERN},
                "device": {"type": ["string", "null"], "pattern": DEVICE_PATTERN},
                "tag": TAG,  # 2.49
                "delete_on_termination": {"type": "boolean"},  # 2.79
            },
            "required": ["volumeId"],
            "additionalProperties": False,
        },
    },
    "required": ["volumeAttachment"],
    "additionalProperties": False,
}
SINCE = {"tag": 49, "delete_on_termination": 79}


def _view(req: ApiRequest, m: Mapping) -> dict[str, Any]:
    """Nova's _translate_attachment_detail_view."""
    mv = microversion(req)
    body: dict[str, Any] = {} if mv.at_least(89) else {"id": m.volume_id}
    body.update({"volumeId": m.volume_id, "serverId": m.server_id})
    if m.device:
        body["device"] = m.device
    if mv.at_least(70):
        body["tag"] = m.tag
    if mv.at_least(79):
        body["delete_on_termination"] = m.delete_on_termination
    if mv.at_least(89):
        body["attachment_id"] = m.attachment_id
        body["bdm_uuid"] = m.attachment_id
    return body


@endpoint(schema=ATTACH_SCHEMA, summary="Attach a volume to a server")
def attach_volume(req: ApiRequest) -> Any:
    data = req.body["volumeAttachment"]
    mv = microversion(req)
    for field, since in SINCE.items():
        if field in data and not mv.at_least(since):
            raise BadRequest(f"Invalid input for field/attribute volumeAttachment. Additional properties are "
                             f"not allowed ('{field}' was unexpected)")
    m = req.cloud.compute.attach_volume(req.context, req.path["server_id"], data["volumeId"],
                                        device=data.get("device"), tag=data.get("tag"),
                                        delete_on_termination=data.get("delete_on_termination", False))
    # Nova's create answer: always `id` and `device`, never attachment_id (the attach is async).
    body: dict[str, Any] = {"id": m.volume_id, "serverId": m.server_id, "volumeId": m.volume_id,
                            "device": m.device}
    if mv.at_least(70):
        body["tag"] = m.tag
    if mv.at_least(79):
        body["delete_on_termination"] = m.delete_on_termination
    return {"volumeAttachment": body}


@endpoint(summary="List a server's volume attachments")
def list_attachments(req: ApiRequest) -> Any:
    rows = req.cloud.compute.volume_attachments(req.context, req.path["server_id"])
    return {"volumeAttachments": [_view(req, m) for m in limited(req, rows)]}


@endpoint(summary="Show a volume attachment")
def show_attachment(req: ApiRequest) -> Any:
    m = req.cloud.compute.volume_attachment(req.context, req.path["server_id"], req.path["volume_id"])
    return {"volumeAttachment": _view(req, m)}


@endpoint(status=202, summary="Detach a volume from a server")
def detach_volume(req: ApiRequest) -> Any:
    req.cloud.compute.detach_volume(req.context, req.path["server_id"], req.path["volume_id"])
    return 202, None


def routes() -> list[BaseRoute]:
    base = "/v2.1/servers/{server_id}/os-volume_attachments"
    return [
        Route(base, list_attachments, methods=["GET"]),
        Route(base, attach_volume, methods=["POST"]),
        Route(base + "/{volume_id}", show_attachment, methods=["GET"]),
        Route(base + "/{volume_id}", detach_volume, methods=["DELETE"]),
    ]
