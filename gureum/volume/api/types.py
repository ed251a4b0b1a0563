"""Volume types, their extra specs and project access."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.volume import views
from gureum.volume.api.common import params


def _view(req: ApiRequest, vtype: Any) -> dict[str, Any]:
    return views.type_view(vtype, show_specs=req.context.is_admin, show_qos=req.context.is_admin)


@endpoint(auth=True)
def list_types(req: ApiRequest) -> Any:
    return {"volume_types": [_view(req, t) for t in req.cloud.volume.list_types(req.context, params(req))]}


@endpoint(auth=True)
def show_type(req: ApiRequest) -> Any:
    return {"volume_type": _view(req, req.cloud.volume.get_type(req.context, req.path["type_id"]))}


@endpoint(auth=True, json_body=True)
def create_type(req: ApiRequest) -> Any:
    return {"volume_type": views.type_view(req.cloud.volume.create_type(req.context, req.body), show_specs=True)}


@endpoint(auth=True, json_body=True)
def update_type(req: ApiRequest) -> Any:
    vtype = req.cloud.volume.update_type(req.context, req.path["type_id"], req.body)
    return {"volume_type": views.type_view(vtype, show_specs=True, show_access=False)}


@endpoint(auth=True)
def delete_type(req: ApiRequest) -> Any:
    req.cloud.volume.delete_type(req.context, req.path["type_id"])
    return 202, None


@endpoint(auth=True)
def list_extra_specs(req: ApiRequest) -> Any:
    return {"extra_specs": req.cloud.volume.get_extra_specs(req.context, req.path["type_id"])}


@endpoint(auth=True, json_body=True)
def create_extra_specs(req: ApiRequest) -> Any:
    return {"extra_specs": req.cloud.volume.set_extra_specs(req.context, req.path["type_id"], req.body)}


@endpoint(auth=True)
def show_extra_spec(req: ApiRequest) -> Any:
    return req.cloud.volume.get_extra_spec(req.context, req.path["type_id"], req.path["key"])


@endpoint(auth=True, json_body=True)
def update_extra_spec(req: ApiRequest) -> Any:
    return req.cloud.volume.set_extra_spec(req.context, req.path["type_id"], req.path["key"], req.body)


@endpoint(auth=True)
def delete_extra_spec(req: ApiRequest) -> Any:
    req.cloud.volume.delete_extra_spec(req.context, req.path["type_id"], req.path["key"])
    return 202, None


@endpoint(auth=True)
def list_access(req: ApiRequest) -> Any:
    return {"volume_type_access": req.cloud.volume.list_type_access(req.context, req.path["type_id"])}


@endpoint(auth=True, json_body=True)
def type_action(req: ApiRequest) -> Any:
    req.cloud.volume.change_type_access(req.context, req.path["type_id"], req.body)
    return 202, None


def routes() -> list[BaseRoute]:
    base = "/v3/types"
    return [
        Route(base, list_types, methods=["GET"]),
        Route(base, create_type, methods=["POST"]),
        Route(base + "/{type_id}", show_type, methods=["GET"]),
        Route(base + "/{type_id}", update_type, methods=["PUT"]),
        Route(base + "/{type_id}", delete_type, methods=["DELETE"]),
        Route(base + "/{type_id}/extra_specs", list_extra_specs, methods=["GET"]),
        Route(base + "/{type_id}/extra_specs", create_extra_specs, methods=["POST"]),
        Route(base + "/{type_id}/extra_specs/{key}", show_extra_spec, methods=["GET"]),
        Route(base + "/{type_id}/extra_specs/{key}", update_extra_spec, methods=["PUT"]),
        Route(base + "/{type_id}/extra_specs/{key}", delete_extra_spec, methods=["DELETE"]),
        Route(base + "/{type_id}/os-volume-type-access", list_access, methods=["GET"]),
        Route(base + "/{type_id}/action", type_action, methods=["POST"]),
    ]
