"""Version discovery: GET /volume (300, every version) and GET /volume/v3 (200)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from gureum.http.endpoint import service_root
from gureum.volume.views import versions_view


async def versions_multiple_choices(request: Request) -> JSONResponse:
    return JSONResponse(versions_view(service_root(request)), status_code=300)


async def no_such_item(request: Request) -> JSONResponse:
    return JSONResponse({"itemNotFound": {"code": 404, "message": "The resource could not be found."}},
                        status_code=404)


async def v3(request: Request) -> JSONResponse:
    return JSONResponse(versions_view(service_root(request)))
