"""Volume transfers: os-volume-transfer, and volume-transfers from 3.55."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.volume import views
from gureum.volume.api.common import microversion, params, require_version, root


def _collection(req: ApiRequest) -> str:
    return "volume-transfers" if "/volume-transfers" in req.request.url.path else "os-volume-transfer"


def _check(req: ApiRequest) -> None:
    if _collection(req) == "volume-transfers":
        require_version(req, 55)


@endpoint(auth=True, json_body=True)
def create_transfer(req: ApiRequest) -> Any:
    _check(req)
    version = microversion(req)
    transfer, key = req.cloud.volume.create_transfer(req.context, req.body, allow_no_snapshots=version.at_least(55))
    return 202, {"transfer": views.transfer_view(transfer, root(req), version, auth_key=key,
                                                 collection=_collection(req))}


def _page(req: ApiRequest, detail: bool) -> dict[str, Any]:
    _check(req)
    transfers, _next = req.cloud.volume.list_transfers(req.context, params(req))
    version = microversion(req)
    return {"transfers": [views.transfer_view(t, root(req), version, detail=detail, collection=_collection(req))
                          for t in transfers]}


@endpoint(auth=True)
def list_transfers(req: ApiRequest) -> Any:
    return _page(req, detail=False)


@endpoint(auth=True)
def list_transfers_detail(req: ApiRequest) -> Any:
    return _page(req, detail=True)


@endpoint(auth=True)
def show_transfer(req: ApiRequest) -> Any:
    _check(req)
    transfer = req.cloud.volume.get_transfer(req.context, req.path["transfer_id"])
    return {"transfer": views.transfer_view(transfer, root(req), microversion(req), collection=_collection(req))}


@endpoint(auth=True)
def delete_transfer(req: ApiRequest) -> Any:
    _check(req)
    req.cloud.volume.delete_transfer(req.context, req.path["transfer_id"])
    return 202, None


@endpoint(auth=True, json_body=True)
def accept_transfer(req: ApiRequest) -> Any:
    _check(req)
    transfer = req.cloud.volume.accept_transfer(req.context, req.path["transfer_id"], req.body)
    view = views.transfer_view(transfer, root(req), microversion(req), detail=False, collection=_collection(req))
    view.pop("no_snapshots", None)
    return 202, {"transfer": view}


def routes() -> list[BaseRoute]:
    result: list[BaseRoute] = []
    for base in ("/v3/os-volume-transfer", "/v3/volume-transfers"):
        result += [
            Route(base, list_transfers, methods=["GET"]),
            Route(base, create_transfer, methods=["POST"]),
            Route(f"{base}/detail", list_transfers_detail, methods=["GET"]),
            Route(base + "/{transfer_id}", show_transfer, methods=["GET"]),
            Route(base + "/{transfer_id}", delete_transfer, methods=["DELETE"]),
            Route(base + "/{transfer_id}/accept", accept_transfer, methods=["POST"]),
        ]
    return result
