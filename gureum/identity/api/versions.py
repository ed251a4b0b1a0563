"""Version discovery, exactly as keystone serves it."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from gureum.http.endpoint import service_root

V3_ID = "v3.14"
V3_UPDATED = "2020-04-07T00:00:00Z"
MEDIA_TYPES = [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]


def v3_document(service_root: str) -> dict[str, Any]:
    return {
        "id": V3_ID,
        "status": "stable",
        "updated": V3_UPDATED,
        "links": [{"rel": "self", "href": f"{service_root}/v3/"}],
        "media-types": MEDIA_TYPES,
    }


def _root(request: Request) -> str:
    return service_root(request)


async def versions(request: Request) -> JSONResponse:
    return JSONResponse({"versions": {"values": [v3_document(_root(request))]}}, status_code=300)


async def v3(request: Request) -> JSONResponse:
    return JSONResponse({"version": v3_document(_root(request))})
