"""HTTP ↔ image service: the Glance v2 routes, thin.

JSON endpoints use `@endpoint`; image data (upload, stage, download) uses plain
async endpoints that stream, since `@endpoint` reads whole bodies.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gureum.http.context import RequestContext
from gureum.http.endpoint import (
    ApiRequest,
    authenticate,
    cloud_of,
    endpoint,
    service_root,
)
from gureum.http.errors import (
    BadRequest,
    NotFound,
    RangeNotSatisfiable,
    UnsupportedMediaType,
    render_webob,
)
from gureum.http.service_app import service_app
from gureum.image.metadefs_api import ROUTES as METADEF_ROUTES
from gureum.image.patching import PATCH_MEDIA_TYPES, parse_changes, patch_draft
from gureum.image.schemas import SCHEMAS
from gureum.image.transfers import receive_image_data, stream_image_data
from gureum.image.views import images_page, import_info_view, versions_view

IMPORT_METHODS_HEADER = "OpenStack-image-import-methods"
DATA_MEDIA_TYPE = "application/octet-stream"
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CONTENT_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


# -- discovery -----------------------------------------------------------------------


async def versions_multiple_choices(request: Request) -> JSONResponse:
    return JSONResponse(versions_view(service_root(request)), status_code=300)


async def versions(request: Request) -> JSONResponse:
    return JSONResponse(versions_view(service_root(request)))


@endpoint(auth=True)
def get_schema(req: ApiRequest) -> Any:
    factory = SCHEMAS.get(req.path["name"])
    if factory is None:
        raise NotFound("The resource could not be found.")
    return factory()


@endpoint(auth=True)
def info_import(req: ApiRequest) -> Any:
    return import_info_view()


@endpoint(auth=True)
def info_stores(req: ApiRequest) -> Any:
    raise NotFound("Multi backend is not supported at this site.")


@endpoint(auth=True)
def info_usage(req: ApiRequest) -> Any:
    return req.cloud.image.usage(req.context)


# -- images --------------------------------------------------------------------------


@endpoint(auth=True)
def list_images(req: ApiRequest) -> Any:
    params = list(req.query.multi_items())
    images, next_marker = req.cloud.image.list_images(req.context, params)
    return images_page(images, params, next_marker)


@endpoint(auth=True, json_body=True)
def create_image(req: ApiRequest) -> Any:
    image = req.cloud.image.create_image(req.context, req.body)
    headers = {
        "Location": f"{req.base_url}/v2/images/{image['id']}",
        IMPORT_METHODS_HEADER: ",".join(req.cloud.image.import_methods()),
    }
    return 201, image, headers


@endpoint(auth=True)
def show_image(req: ApiRequest) -> Any:
    return req.cloud.image.get_image(req.context, req.path["image_id"])


@endpoint(auth=True, json_body=True, content_types=(*PATCH_MEDIA_TYPES, "application/json"))
def update_image(req: ApiRequest) -> Any:
    draft = patch_draft(req.headers.get("content-type"))
    changes = parse_changes(req.body, draft)
    return req.cloud.image.update_image(req.context, req.path["image_id"], changes)


@endpoint(auth=True, status=204)
def delete_image(req: ApiRequest) -> Any:
    req.cloud.image.delete_image(req.context, req.path["image_id"])


@endpoint(auth=True, status=204)
def deactivate_image(req: ApiRequest) -> Any:
    req.cloud.image.deactivate(req.context, req.path["image_id"])


@endpoint(auth=True, status=204)
def reactivate_image(req: ApiRequest) -> Any:
    req.cloud.image.reactivate(req.context, req.path["image_id"])


@endpoint(auth=True, json_body=True)
def import_image(req: ApiRequest) -> Any:
    req.cloud.image.import_image(req.context, req.path["image_id"], req.body)
    return 202, None


# -- tags and members ------------------------------------------------------------------


@endpoint(auth=True, status=204)
def add_tag(req: ApiRequest) -> Any:
    req.cloud.image.add_tag(req.context, req.path["image_id"], req.path["tag"])


@endpoint(auth=True, status=204)
def delete_tag(req: ApiRequest) -> Any:
    req.cloud.image.delete_tag(req.context, req.path["image_id"], req.path["tag"])


@endpoint(auth=True)
def list_members(req: ApiRequest) -> Any:
    return req.cloud.image.list_members(req.context, req.path["image_id"])


@endpoint(auth=True, json_body=True)
def add_member(req: ApiRequest) -> Any:
    return req.cloud.image.add_member(req.context, req.path["image_id"], req.body)


@endpoint(auth=True)
def show_member(req: ApiRequest) -> Any:
    return req.cloud.image.get_member(req.context, req.path["image_id"], req.path["member_id"])


@endpoint(auth=True, json_body=True)
def update_member(req: ApiRequest) -> Any:
    return req.cloud.image.update_member(req.context, req.path["image_id"], req.path["member_id"], req.body)


@endpoint(auth=True, status=204)
def delete_member(req: ApiRequest) -> Any:
    req.cloud.image.delete_member(req.context, req.path["image_id"], req.path["member_id"])


# -- image data (streaming) --------------------------------------------------------------


async def _authenticated(request: Request) -> RequestContext:
    return await run_in_threadpool(authenticate, request, cloud_of(request))


def _declared_size(request: Request) -> int | None:
    """Glance takes x-openstack-image-size first, then Content-Length."""
    raw = request.headers.get("x-openstack-image-size") or request.headers.get("content-length")
    if raw is None:
        return None
    try:
        size = int(raw)
    except ValueError:
        raise BadRequest("Invalid or missing image size in request headers.") from None
    if size < 0:
        raise BadRequest("Invalid or missing image size in request headers.")
    return size


def _check_data_media_type(request: Request) -> None:
    media_type = request.headers.get("content-type", DATA_MEDIA_TYPE).split(";")[0].strip().lower()
    if media_type != DATA_MEDIA_TYPE:
        raise UnsupportedMediaType(f"Invalid content type {media_type}: image data is sent as {DATA_MEDIA_TYPE}")


async def _client_bytes(request: Request) -> Any:
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect:
        raise BadRequest("The client closed the connection before all image data arrived.") from None


async def _receive(request: Request, kind: str) -> Response:
    ctx = await _authenticated(request)
    _check_data_media_type(request)
    cloud = cloud_of(request)
    image_id = request.path_params["image_id"]
    await receive_image_data(cloud.image, ctx, image_id, kind, _client_bytes(request), _declared_size(request))
    return Response(status_code=204)


async def upload_image_data(request: Request) -> Response:
    return await _receive(request, "upload")


async def stage_image_data(request: Request) -> Response:
    return await _receive(request, "stage")


def parse_range(header: str, size: int) -> tuple[int, int]:
    """One byte range, as webob reads it: (first, last) inclusive, or 416."""
    match = _RANGE_RE.match(header.replace(" ", ""))
    unsatisfiable = RangeNotSatisfiable("The Range requested is not available.", headers={"Content-Range": f"bytes */{size}"})
    if match is None or size == 0:
        raise unsatisfiable
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        raise unsatisfiable
    if not first_text:
        suffix = int(last_text)
        if suffix == 0:
            raise unsatisfiable
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = min(int(last_text), size - 1) if last_text else size - 1
    if first >= size or last < first:
        raise unsatisfiable
    return first, last


def _legacy_content_range(header: str, size: int) -> tuple[int, int]:
    """Glance still honours a Content-Range sent in a request."""
    match = _CONTENT_RANGE_RE.match(header.strip())
    if match is None:
        raise RangeNotSatisfiable("The Range requested is not available.", headers={"Content-Range": f"bytes */{size}"})
    first, last = int(match.group(1)), int(match.group(2))
    if first > last or last >= size:
        raise RangeNotSatisfiable("The Range requested is not available.", headers={"Content-Range": f"bytes */{size}"})
    return first, last


async def download_image_data(request: Request) -> Response:
    ctx = await _authenticated(request)
    cloud = cloud_of(request)
    download = await run_in_threadpool(cloud.image.open_download, ctx, request.path_params["image_id"])
    if download is None:
        return Response(status_code=204)
    headers = {"Content-Type": DATA_MEDIA_TYPE}
    if download.checksum:
        headers["Content-MD5"] = download.checksum
    status, first, last = 200, 0, download.size - 1
    if "range" in request.headers:
        first, last = parse_range(request.headers["range"], download.size)
        status = 206
    elif "content-range" in request.headers:
        first, last = _legacy_content_range(request.headers["content-range"], download.size)
        status = 206
    if status == 206:
        headers["Content-Range"] = f"bytes {first}-{last}/{download.size}"
    length = last - first + 1
    headers["Content-Length"] = str(length)
    chunks = await run_in_threadpool(cloud.image.read_data, download, first, length)
    if chunks is None:
        # Glance answers a store that lost the bytes with 204, as for an image without data.
        return Response(status_code=204)
    return StreamingResponse(stream_image_data(chunks), status_code=status, headers=headers, media_type=DATA_MEDIA_TYPE)


async def no_image_id(request: Request) -> Response:
    """`/v2/images/` names no image: 404 as glance says, not the list behind a redirect."""
    raise NotFound("The resource could not be found.")


IMAGE = "/v2/images/{image_id}"

ROUTES = [
    Route("/", versions_multiple_choices, methods=["GET"]),
    Route("/versions", versions, methods=["GET"]),
    Route("/v2", versions_multiple_choices, methods=["GET"]),
    Route("/v2/", versions_multiple_choices, methods=["GET"]),
    Route("/v2/schemas/{name:path}", get_schema, methods=["GET"]),
    Route("/v2/info/import", info_import, methods=["GET"]),
    Route("/v2/info/stores", info_stores, methods=["GET"]),
    Route("/v2/info/usage", info_usage, methods=["GET"]),
    Route("/v2/images", list_images, methods=["GET"]),
    Route("/v2/images", create_image, methods=["POST"]),
    Route("/v2/images/", no_image_id, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    Route(IMAGE, show_image, methods=["GET"]),
    Route(IMAGE, update_image, methods=["PATCH"]),
    Route(IMAGE, delete_image, methods=["DELETE"]),
    Route(IMAGE + "/file", upload_image_data, methods=["PUT"]),
    Route(IMAGE + "/file", download_image_data, methods=["GET"]),
    Route(IMAGE + "/stage", stage_image_data, methods=["PUT"]),
    Route(IMAGE + "/import", import_image, methods=["POST"]),
    Route(IMAGE + "/actions/deactivate", deactivate_image, methods=["POST"]),
    Route(IMAGE + "/actions/reactivate", reactivate_image, methods=["POST"]),
    Route(IMAGE + "/tags/{tag}", add_tag, methods=["PUT"]),
    Route(IMAGE + "/tags/{tag}", delete_tag, methods=["DELETE"]),
    Route(IMAGE + "/members", list_members, methods=["GET"]),
    Route(IMAGE + "/members", add_member, methods=["POST"]),
    Route(IMAGE + "/members/{member_id}", show_member, methods=["GET"]),
    Route(IMAGE + "/members/{member_id}", update_member, methods=["PUT"]),
    Route(IMAGE + "/members/{member_id}", delete_member, methods=["DELETE"]),
]


def image_app() -> Starlette:
    return service_app([*ROUTES, *METADEF_ROUTES], render_webob)
