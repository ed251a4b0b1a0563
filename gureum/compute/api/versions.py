"""Compute version discovery: openstacksdk reads `version` and `min_version` from here."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from gureum.compute.microversion import MAX_VERSION, MIN_VERSION, version_string
from gureum.http.endpoint import service_root

MEDIA_TYPES = [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}]


def v21_document(root: str) -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": version_string(MAX_VERSION),
        "min_version": version_string(MIN_VERSION),
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": f"{root}/v2.1/"}],
        "media-types": MEDIA_TYPES,
    }


def v20_document(root: str) -> dict[str, Any]:
    """The legacy v2.0 API, which Nova still lists first (SUPPORTED, no microversions)."""
    return {
        "id": "v2.0",
        "status": "SUPPORTED",
        "version": "",
        "min_version": "",
        "updated": "2011-01-21T11:33:21Z",
        "links": [{"rel": "self", "href": f"{root}/v2/"}],
    }


async def versions(request: Request) -> JSONResponse:
    root = service_root(request)
    # Nova lists v2.0 before v2.1; tempest's test_list_api_versions checks the order.
    return JSONResponse({"versions": [v20_document(root), v21_document(root)]})


async def v20(request: Request) -> JSONResponse:
    """GET /v2/: the legacy API's document (Nova serves v2.0 as v2.1 without microversions)."""
    doc = v20_document(service_root(request))
    doc["media-types"] = [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2"}]
    doc["links"].append({"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"})
    return JSONResponse({"version": doc})


async def v21(request: Request) -> JSONResponse:
    root = service_root(request)
    doc = v21_document(root)
    doc["links"].append({"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"})
    return JSONResponse({"version": doc})
