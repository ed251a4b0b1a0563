"""Snapshots: CRUD, metadata, admin actions."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.volume import views
from gureum.volume.api.common import request_url, microversion, params, root


def _page(req: ApiRequest, detail: bool) -> dict[str, Any]:
    query = params(req)
    records, next_marker = req.cloud.volume.list_snapshots(req.context, query)
    body: dict[str, Any] = {"snapshots": [views.snapshot_view(r, microversion(req), extended=detail) for r in records]}
    page_links = views.collection_links(request_url(req), next_marker, query)
    if page_links:
        body["snapshots_links"] = page_links
    return body


@endpoint(auth=True)
def list_snapshots(req: ApiRequest) -> Any:
    return _page(req, detail=False)


@endpoint(auth=True)
def list_snapshots_detail(req: ApiRequest) -> Any:
    return _page(req, detail=True)


@endpoint(auth=True, json_body=True)
def create_snapshot(req: ApiRequest) -> Any:
    record = req.cloud.volume.create_snapshot(req.context, req.body)
    return 202, {"snapshot": views.snapshot_view(record, microversion(req), extended=False)}


@endpoint(auth=True)
def show_snapshot(req: ApiRequest) -> Any:
    record = req.cloud.volume.get_snapshot(req.context, req.path["snapshot_id"])
    return {"snapshot": views.snapshot_view(record, microversion(req), extended=True)}


@endpoint(auth=True, json_body=True)
def update_snapshot(req: ApiRequest) -> Any:
    record = req.cloud.volume.update_snapshot(req.context, req.path["snapshot_id"], req.body)
    return {"snapshot": views.snapshot_view(record, microversion(req), extended=False)}


@endpoint(auth=True)
def delete_snapshot(req: ApiRequest) -> Any:
    req.cloud.volume.delete_snapshot(req.context, req.path["snapshot_id"])
    return 202, None


@endpoint(auth=True, json_body=True)
def snapshot_action(req: ApiRequest) -> Any:
    req.cloud.volume.snapshot_action(req.context, req.path["snapshot_id"], req.body)
    return 202, None


@endpoint(auth=True)
def show_metadata(req: ApiRequest) -> Any:
    return {"metadata": req.cloud.volume.get_snapshot_metadata(req.context, req.path["snapshot_id"])}


@endpoint(auth=True, json_body=True)
def create_metadata(req: ApiRequest) -> Any:
    return {"metadata": req.cloud.volume.set_snapshot_metadata(req.context, req.path["snapshot_id"], req.body,
                                                               replace=False)}


@endpoint(auth=True, json_body=True)
def replace_metadata(req: ApiRequest) -> Any:
    return {"metadata": req.cloud.volume.set_snapshot_metadata(req.context, req.path["snapshot_id"], req.body,
                                                               replace=True)}


@endpoint(auth=True)
def show_metadata_item(req: ApiRequest) -> Any:
    return {"meta": req.cloud.volume.get_snapshot_metadata_item(req.context, req.path["snapshot_id"],
                                                                req.path["key"])}


@endpoint(auth=True, json_body=True)
def update_metadata_item(req: ApiRequest) -> Any:
    return {"meta": req.cloud.volume.set_snapshot_metadata_item(req.context, req.path["snapshot_id"],
                                                                req.path["key"], req.body)}


@endpoint(auth=True)
def delete_metadata_item(req: ApiRequest) -> Any:
    req.cloud.volume.delete_snapshot_metadata_item(req.context, req.path["snapshot_id"], req.path["key"])
    return 200, None


def routes() -> list[BaseRoute]:
    base = "/v3/snapshots"
    return [
        Route(base, list_snapshots, methods=["GET"]),
        Route(base, create_snapshot, methods=["POST"]),
        Route(f"{base}/detail", list_snapshots_detail, methods=["GET"]),
        Route(base + "/{snapshot_id}", show_snapshot, methods=["GET"]),
        Route(base + "/{snapshot_id}", update_snapshot, methods=["PUT"]),
        Route(base + "/{snapshot_id}", delete_snapshot, methods=["DELETE"]),
        Route(base + "/{snapshot_id}/action", snapshot_action, methods=["POST"]),
        Route(base + "/{snapshot_id}/metadata", show_metadata, methods=["GET"]),
        Route(base + "/{snapshot_id}/metadata", create_metadata, methods=["POST"]),
        Route(base + "/{snapshot_id}/metadata", replace_metadata, methods=["PUT"]),
        Route(base + "/{snapshot_id}/metadata/{key}", show_metadata_item, methods=["GET"]),
        Route(base + "/{snapshot_id}/metadata/{key}", update_metadata_item, methods=["PUT"]),
        Route(base + "/{snapshot_id}/metadata/{key}", delete_metadata_item, methods=["DELETE"]),
    ]
