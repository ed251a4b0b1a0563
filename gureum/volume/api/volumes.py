"""Volumes: CRUD, summary, metadata, actions. Parse, call one service method, render."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.volume import views
from gureum.volume.api.common import request_url, flag, microversion, params, require_version, root


def _detail(req: ApiRequest, record: Any, *, extended: bool = True) -> dict[str, Any]:
    return views.volume_detail(record, root(req), req.context, microversion(req), extended=extended)


def _page(req: ApiRequest, detail: bool) -> dict[str, Any]:
    query = params(req)
    records, next_marker = req.cloud.volume.list_volumes(req.context, query)
    items = [_detail(req, r) if detail else views.volume_summary(r, root(req)) for r in records]
    body: dict[str, Any] = {"volumes": items}
    page_links = views.collection_links(request_url(req), next_marker, query)
    if page_links:
        body["volumes_links"] = page_links
    return body


@endpoint(auth=True)
def list_volumes(req: ApiRequest) -> Any:
    return _page(req, detail=False)


@endpoint(auth=True)
def list_volumes_detail(req: ApiRequest) -> Any:
    return _page(req, detail=True)


@endpoint(auth=True, json_body=True)
def create_volume(req: ApiRequest) -> Any:
    return 202, {"volume": _detail(req, req.cloud.volume.create_volume(req.context, req.body), extended=False)}


@endpoint(auth=True)
def show_volume(req: ApiRequest) -> Any:
    return {"volume": _detail(req, req.cloud.volume.get_volume(req.context, req.path["volume_id"]))}


@endpoint(auth=True, json_body=True)
def update_volume(req: ApiRequest) -> Any:
    record = req.cloud.volume.update_volume(req.context, req.path["volume_id"], req.body)
    return {"volume": _detail(req, record, extended=False)}


@endpoint(auth=True, status=202)
def delete_volume(req: ApiRequest) -> Any:
    req.cloud.volume.delete_volume(req.context, req.path["volume_id"], cascade=flag(req, "cascade"),
                                   force=flag(req, "force"))
    return 202, None


@endpoint(auth=True)
def volume_summary(req: ApiRequest) -> Any:
    version = require_version(req, 12)
    count, size, metadata = req.cloud.volume.volume_summary(req.context, flag(req, "all_tenants"))
    return views.volume_summary_totals(count, size, metadata, version)


@endpoint(auth=True, json_body=True)
def volume_action(req: ApiRequest) -> Any:
    result = req.cloud.volume.volume_action(req.context, req.path["volume_id"], req.body, microversion(req))
    if isinstance(result, tuple):
        return result
    if result is None:
        return 202, None
    return 200, result


# -- metadata --------------------------------------------------------------------------


@endpoint(auth=True)
def show_metadata(req: ApiRequest) -> Any:
    return {"metadata": req.cloud.volume.get_volume_metadata(req.context, req.path["volume_id"])}


@endpoint(auth=True, json_body=True)
def create_metadata(req: ApiRequest) -> Any:
    return {"metadata": req.cloud.volume.set_volume_metadata(req.context, req.path["volume_id"], req.body,
                                                             replace=False)}


@endpoint(auth=True, json_body=True)
def replace_metadata(req: ApiRequest) -> Any:
    return {"metadata": req.cloud.volume.set_volume_metadata(req.context, req.path["volume_id"], req.body,
                                                             replace=True)}


@endpoint(auth=True)
def show_metadata_item(req: ApiRequest) -> Any:
    return {"meta": req.cloud.volume.get_volume_metadata_item(req.context, req.path["volume_id"], req.path["key"])}


@endpoint(auth=True, json_body=True)
def update_metadata_item(req: ApiRequest) -> Any:
    item = req.cloud.volume.set_volume_metadata_item(req.context, req.path["volume_id"], req.path["key"], req.body)
    return {"meta": item}


@endpoint(auth=True)
def delete_metadata_item(req: ApiRequest) -> Any:
    req.cloud.volume.delete_volume_metadata_item(req.context, req.path["volume_id"], req.path["key"])
    return 200, None


def routes() -> list[BaseRoute]:
    base = "/v3/volumes"
    return [
        Route(base, list_volumes, methods=["GET"]),
        Route(base, create_volume, methods=["POST"]),
        Route(f"{base}/detail", list_volumes_detail, methods=["GET"]),
        Route(f"{base}/summary", volume_summary, methods=["GET"]),
        Route(base + "/{volume_id}", show_volume, methods=["GET"]),
        Route(base + "/{volume_id}", update_volume, methods=["PUT"]),
        Route(base + "/{volume_id}", delete_volume, methods=["DELETE"]),
        Route(base + "/{volume_id}/action", volume_action, methods=["POST"]),
        Route(base + "/{volume_id}/metadata", show_metadata, methods=["GET"]),
        Route(base + "/{volume_id}/metadata", create_metadata, methods=["POST"]),
        Route(base + "/{volume_id}/metadata", replace_metadata, methods=["PUT"]),
        Route(base + "/{volume_id}/metadata/{key}", show_metadata_item, methods=["GET"]),
        Route(base + "/{volume_id}/metadata/{key}", update_metadata_item, methods=["PUT"]),
        Route(base + "/{volume_id}/metadata/{key}", delete_metadata_item, methods=["DELETE"]),
    ]
