"""The attachments API (3.27+; os-complete from 3.44)."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import BadRequest
from gureum.volume import views
from gureum.volume.api.common import params, require_version


@endpoint(auth=True, json_body=True)
def create_attachment(req: ApiRequest) -> Any:
    require_version(req, 27)
    attachment, info = req.cloud.volume.create_attachment(req.context, req.body)
    return 200, {"attachment": views.attachment_view(attachment, info)}


@endpoint(auth=True)
def list_attachments(req: ApiRequest) -> Any:
    require_version(req, 27)
    rows, _next = req.cloud.volume.list_attachments(req.context, params(req))
    return {"attachments": [views.attachment_view(a, detail=False) for a in rows]}


@endpoint(auth=True)
def list_attachments_detail(req: ApiRequest) -> Any:
    require_version(req, 27)
    rows, _next = req.cloud.volume.list_attachments(req.context, params(req))
    return {"attachments": [views.attachment_view(a) for a in rows]}


@endpoint(auth=True)
def show_attachment(req: ApiRequest) -> Any:
    require_version(req, 27)
    attachment, info = req.cloud.volume.get_attachment(req.context, req.path["attachment_id"])
    return {"attachment": views.attachment_view(attachment, info)}


@endpoint(auth=True, json_body=True)
def update_attachment(req: ApiRequest) -> Any:
    require_version(req, 27)
    attachment, info = req.cloud.volume.update_attachment(req.context, req.path["attachment_id"], req.body)
    return {"attachment": views.attachment_view(attachment, info)}


@endpoint(auth=True)
def delete_attachment(req: ApiRequest) -> Any:
    require_version(req, 27)
    req.cloud.volume.delete_attachment(req.context, req.path["attachment_id"])
    return {"attachments": []}


@endpoint(auth=True, json_body=True)
def attachment_action(req: ApiRequest) -> Any:
    require_version(req, 44)
    if not isinstance(req.body, dict) or "os-complete" not in req.body:
        raise BadRequest("Invalid request body: the only attachment action is os-complete.")
    req.cloud.volume.complete_attachment(req.context, req.path["attachment_id"])
    return 204, None


def routes() -> list[BaseRoute]:
    base = "/v3/attachments"
    return [
        Route(base, list_attachments, methods=["GET"]),
        Route(base, create_attachment, methods=["POST"]),
        Route(f"{base}/detail", list_attachments_detail, methods=["GET"]),
        Route(base + "/{attachment_id}", show_attachment, methods=["GET"]),
        Route(base + "/{attachment_id}", update_attachment, methods=["PUT"]),
        Route(base + "/{attachment_id}", delete_attachment, methods=["DELETE"]),
        Route(base + "/{attachment_id}/action", attachment_action, methods=["POST"]),
    ]
