"""/v2.1/os-volumes and /os-snapshots: Nova's proxy onto block storage.

Deprecated in Nova at 2.36: above it these paths answer 404 as Nova's do. The service
(compute/volumes_proxy.py) enforces policy and translates; the volume service checks
what Cinder checks (a size of '', 0 or '#$%' is its 400).
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.compute.api.common import limited, microversion
from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import NotFound

PROXY_MAX = 35  # Nova's MAX_PROXY_API_SUPPORT_VERSION
VOLUME_SCHEMA = {
    "type": "object",
    "properties": {
        "volume": {
            "type": "object",
            "properties": {
                "volume_type": {"type": ["string", "null"]},
                "metadata": {"type": ["object", "null"]},
                "snapshot_id": {"type": ["string", "null"]},
                "size": {"type": ["integer", "string"]},
                "availability_zone": {"type": ["string", "null"]},
                "display_name": {"type": ["string", "null"], "maxLength": 255},
                "display_description": {"type": ["string", "null"], "maxLength": 255},
            },
            "required": ["size"],
            "additionalProperties": False,
        },
    },
    "required": ["volume"],
    "additionalProperties": False,
}
SNAPSHOT_SCHEMA = {
    "type": "object",
    "properties": {
        "snapshot": {
            "type": "object",
            "properties": {
                "volume_id": {"type": "string"},
                "force": {"type": ["boolean", "string"]},
                "display_name": {"type": ["string", "null"], "maxLength": 255},
                "display_description": {"type": ["string", "null"], "maxLength": 255},
            },
            "required": ["volume_id"],
            "additionalProperties": False,
        },
    },
    "required": ["snapshot"],
    "additionalProperties": False,
}


def _proxied(req: ApiRequest) -> None:
    if microversion(req).at_least(PROXY_MAX + 1):
        raise NotFound("The resource could not be found.")


def _list_volumes(detailed: bool) -> Any:
    @endpoint(summary="List volumes (proxy)" + (" with details" if detailed else ""))
    def handler(req: ApiRequest) -> dict[str, Any]:
        _proxied(req)
        return {"volumes": limited(req, req.cloud.compute.list_proxy_volumes(req.context, detailed))}

    return handler


@endpoint(schema=VOLUME_SCHEMA, summary="Create a volume (proxy)")
def create_volume(req: ApiRequest) -> Any:
    _proxied(req)
    volume = req.cloud.compute.create_proxy_volume(req.context, req.body["volume"])
    return 200, {"volume": volume}, {"Location": f"{req.base_url}/v2.1/os-volumes/{volume['id']}"}


@endpoint(summary="Show a volume (proxy)")
def show_volume(req: ApiRequest) -> dict[str, Any]:
    _proxied(req)
    return {"volume": req.cloud.compute.show_proxy_volume(req.context, req.path["volume_id"])}


@endpoint(status=202, summary="Delete a volume (proxy)")
def delete_volume(req: ApiRequest) -> Any:
    _proxied(req)
    req.cloud.compute.delete_proxy_volume(req.context, req.path["volume_id"])
    return 202, None


def _list_snapshots(detailed: bool) -> Any:
    @endpoint(summary="List volume snapshots (proxy)" + (" with details" if detailed else ""))
    def handler(req: ApiRequest) -> dict[str, Any]:
        _proxied(req)
        return {"snapshots": limited(req, req.cloud.compute.list_proxy_snapshots(req.context, detailed))}

    return handler


@endpoint(schema=SNAPSHOT_SCHEMA, summary="Create a volume snapshot (proxy)")
def create_snapshot(req: ApiRequest) -> dict[str, Any]:
    _proxied(req)
    return {"snapshot": req.cloud.compute.create_proxy_snapshot(req.context, req.body["snapshot"])}


@endpoint(summary="Show a volume snapshot (proxy)")
def show_snapshot(req: ApiRequest) -> dict[str, Any]:
    _proxied(req)
    return {"snapshot": req.cloud.compute.show_proxy_snapshot(req.context, req.path["snapshot_id"])}


@endpoint(status=202, summary="Delete a volume snapshot (proxy)")
def delete_snapshot(req: ApiRequest) -> Any:
    _proxied(req)
    req.cloud.compute.delete_proxy_snapshot(req.context, req.path["snapshot_id"])
    return 202, None


@endpoint(summary="No volume or snapshot named")
def nothing_named(req: ApiRequest) -> None:
    raise NotFound("The resource could not be found.")


def routes() -> list[BaseRoute]:
    return [
        # A trailing slash names no volume: Nova's 404 (not the collection's answer or 405).
        Route("/v2.1/os-volumes/", nothing_named, methods=["GET", "DELETE"]),
        Route("/v2.1/os-snapshots/", nothing_named, methods=["GET", "DELETE"]),
        Route("/v2.1/os-volumes", _list_volumes(False), methods=["GET"]),
        Route("/v2.1/os-volumes", create_volume, methods=["POST"]),
        Route("/v2.1/os-volumes/detail", _list_volumes(True), methods=["GET"]),
        Route("/v2.1/os-volumes/{volume_id}", show_volume, methods=["GET"]),
        Route("/v2.1/os-volumes/{volume_id}", delete_volume, methods=["DELETE"]),
        Route("/v2.1/os-snapshots", _list_snapshots(False), methods=["GET"]),
        Route("/v2.1/os-snapshots", create_snapshot, methods=["POST"]),
        Route("/v2.1/os-snapshots/detail", _list_snapshots(True), methods=["GET"]),
        Route("/v2.1/os-snapshots/{snapshot_id}", show_snapshot, methods=["GET"]),
        Route("/v2.1/os-snapshots/{snapshot_id}", delete_snapshot, methods=["DELETE"]),
    ]
