"""Swift v1 over HTTP: /object-store/v1/AUTH_<project>/<container>/<object>, /info, /healthcheck.

Handlers parse the path, headers and query, call one service method and render;
bodies stream both ways (transfers.py). Swift answers errors in small HTML pages
and every answer carries X-Trans-Id.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from gureum.http.endpoint import cloud_of
from gureum.http.errors import ApiError, BadRequest, MethodNotAllowed, NotFound, PayloadTooLarge, RangeNotSatisfiable
from gureum.http.service_app import service_app
from gureum.objectstore import views
from gureum.objectstore.access import Caller, TempUrlParams
from gureum.objectstore.bulk import render_bulk
from gureum.objectstore.limits import LISTING_LIMIT, MAX_FILE_SIZE, MAX_MANIFEST_SIZE, LengthRequired
from gureum.objectstore.listing import ListingQuery
from gureum.objectstore.ranges import byteranges_body, parse_ranges
from gureum.objectstore.transfers import copy_object, read_segments, receive_object, stream

ACCOUNT_PREFIX = "AUTH_"
TRANS_ID_KEY = "gureum.objectstore.trans_id"
ERROR_TEXT = {
    401: "This server could not verify that you are authorized to access the document you requested.",
    404: "The resource could not be found.",
    409: "There was a conflict when trying to complete your request.",
    411: "Length Required",
    412: "A precondition for this request was not met.",
}


def new_trans_id() -> str:
    """Swift's transaction id: tx + 21 hex + '-' + 10 hex (the time, as Swift does)."""
    import time  # noqa: PLC0415

    return f"tx{secrets.token_hex(11)[:21]}-{int(time.time()):010x}"


def close_if_body_unread(request: Request, headers: dict[str, str]) -> None:
    """An error answered before the body was read: close the connection, or the unread
    bytes would be parsed as the client's next request."""
    sent = request.headers.get("content-length", "0") not in ("", "0") or "transfer-encoding" in request.headers
    if sent:
        headers["Connection"] = "close"


def with_trans_id(request: Request, headers: dict[str, str]) -> None:
    """Answers the root app gives for our paths (a newline in the path matches no mount) carry one too."""
    if TRANS_ID_KEY not in request.scope:
        headers["X-Trans-Id"] = new_trans_id()


def render_swift(request: Request, exc: ApiError) -> Response:
    headers = dict(exc.headers)
    close_if_body_unread(request, headers)
    with_trans_id(request, headers)
    if exc.status == 304:
        return Response(status_code=304, headers=headers)
    if exc.status == 401:
        headers.setdefault("WWW-Authenticate", 'Swift realm="unknown"')
    message = exc.message or ERROR_TEXT.get(exc.status, exc.title)
    body = f"<html><h1>{exc.title}</h1><p>{message}</p></html>"
    return Response(body, status_code=exc.status, headers=headers, media_type=views.HTML_TYPE)


# -- parsing ----------------------------------------------------------------------------------


def _headers(request: Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


def _project_of(account: str) -> str:
    if not account.startswith(ACCOUNT_PREFIX) or len(account) == len(ACCOUNT_PREFIX):
        raise NotFound("The resource could not be found.")
    return account[len(ACCOUNT_PREFIX):]


async def _caller(request: Request, object_name: str = "") -> Caller:
    cloud = cloud_of(request)
    token = request.headers.get("x-auth-token") or request.headers.get("x-storage-token")
    ctx = None
    if token:
        ctx = await anyio.to_thread.run_sync(
            lambda: cloud.identity.context_for_token(
                token, remote_addr=request.client.host if request.client else "",
                request_id=request.scope.get(TRANS_ID_KEY, "")))
    query = request.query_params
    tempurl = None
    if "temp_url_sig" in query and "temp_url_expires" in query and object_name:
        tempurl = TempUrlParams(signature=query["temp_url_sig"], expires=query["temp_url_expires"],
                                path=_full_path(request),
                                method=request.method, object_name=object_name,
                                prefix=query.get("temp_url_prefix"))
    return Caller(ctx=ctx, referrer=request.headers.get("referer", ""), tempurl=tempurl)


def _full_path(request: Request) -> str:
    """The path as the client sent it, mount prefix included (Starlette keeps it in scope["path"])."""
    root, path = request.scope.get("root_path", ""), request.scope["path"]
    return path if path.startswith(root) else root + path


def _listing_query(request: Request) -> ListingQuery:
    q = request.query_params
    limit = LISTING_LIMIT
    if "limit" in q:
        try:
            limit = int(q["limit"])
        except ValueError:
            raise BadRequest("Value of limit must be a positive integer") from None
        if limit < 0:
            raise BadRequest("Value of limit must be a positive integer")
        if limit > LISTING_LIMIT:
            raise ApiError(f"Maximum limit is {LISTING_LIMIT}", status=412)
    for key in ("prefix", "delimiter", "marker", "end_marker", "path"):
        if len(q.get(key, "")) > 1024:
            raise BadRequest(f"Value of {key} is too long")
    delimiter = q.get("delimiter", "")
    prefix = q.get("prefix", "")
    if "path" in q:
        # path=p is prefix p/ with delimiter /.
        path = q["path"].strip("/")
        prefix, delimiter = (path + "/" if path else ""), "/"
    if len(delimiter) > 1:
        raise ApiError("Bad delimiter", status=412)
    return ListingQuery(prefix=prefix, delimiter=delimiter, marker=q.get("marker", ""),
                        end_marker=q.get("end_marker", ""), limit=limit,
                        reverse=q.get("reverse", "").lower() in ("true", "1", "yes", "on"))


def _declared_size(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    chunked = "chunked" in request.headers.get("transfer-encoding", "").lower()
    if raw is None:
        if not chunked:
            raise LengthRequired("Missing Content-Length header.")
        return None
    try:
        size = int(raw)
    except ValueError:
        raise BadRequest("Invalid Content-Length header.") from None
    if size < 0:
        raise BadRequest("Invalid Content-Length header.")
    if size > MAX_FILE_SIZE:
        raise PayloadTooLarge("Your request is too large.")
    return size


async def _client_bytes(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect:
        raise ApiError("Client Disconnect", status=499) from None


async def _small_body(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in _client_bytes(request):
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"Request body is over the limit of {limit} bytes.")
    return bytes(body)


def _split_copy_path(value: str) -> tuple[str, str]:
    container, _, name = unquote(value).lstrip("/").partition("/")
    if not container or not name:
        raise ApiError("Bad header: must be in the form container/object", status=412)
    return container, name


def _in_thread(func: Any, *args: Any) -> Any:
    return anyio.to_thread.run_sync(lambda: func(*args))


def _created(etag: str, timestamp: float, extra: dict[str, str] | None = None) -> Response:
    from gureum.objectstore.conditions import http_date  # noqa: PLC0415

    headers = {"Etag": etag, "Last-Modified": http_date(timestamp), **(extra or {})}
    return Response(status_code=201, headers=headers, media_type=views.HTML_TYPE)


# -- account ------------------------------------------------------------------------------------


async def account(request: Request, project_id: str) -> Response:
    service = cloud_of(request).objectstore
    caller = await _caller(request)
    method = request.method
    if method in ("GET", "HEAD"):
        if method == "HEAD":
            view = await _in_thread(service.show_account, caller, project_id)
            return Response(status_code=204, headers=views.account_headers(view), media_type=views.PLAIN_TYPE)
        query = _listing_query(request)
        view, entries = await _in_thread(service.list_containers, caller, project_id, query)
        fmt = views.listing_format(request.query_params.get("format"), request.headers.get("accept", ""))
        body, ctype = views.render_listing(entries, fmt, "account", ACCOUNT_PREFIX + project_id)
        status = 204 if not entries and fmt == "plain" else 200
        return Response(body if status == 200 else b"", status_code=status,
                        headers=views.account_headers(view), media_type=ctype)
    if method == "POST" and "bulk-delete" in request.query_params or method == "DELETE" and "bulk-delete" in request.query_params:
        body = await _small_body(request, 10 * 1024 * 1024)
        result = await _in_thread(service.bulk_delete, caller, project_id, body)
        content, ctype = render_bulk(result, request.headers.get("accept", ""))
        return Response(content, status_code=200, media_type=ctype)
    if method == "PUT" and "extract-archive" in request.query_params:
        return await _extract(request, caller, project_id, "")
    if method == "POST":
        await _in_thread(service.update_account, caller, project_id, _headers(request))
        return Response(status_code=204, media_type=views.HTML_TYPE)
    raise MethodNotAllowed("The method is not allowed for the requested URL.")


async def _extract(request: Request, caller: Caller, project_id: str, container: str) -> Response:
    service = cloud_of(request).objectstore
    compression = request.query_params.get("extract-archive", "tar") or "tar"
    await _in_thread(service.begin_extract, caller, project_id, container)
    writer = await anyio.to_thread.run_sync(service.store.new_writer, service.holder)
    try:
        async for chunk in _client_bytes(request):
            if writer.size + len(chunk) > MAX_FILE_SIZE:
                raise PayloadTooLarge("Your request is too large.")
            await anyio.to_thread.run_sync(writer.write, chunk)
        blob = await anyio.to_thread.run_sync(writer.finish)
        outcome = await _in_thread(service.extract_archive, caller, project_id, container, str(blob.path),
                                   compression)
    finally:
        await anyio.to_thread.run_sync(writer.abort)
    content, ctype = render_bulk(outcome, request.headers.get("accept", ""))
    return Response(content, status_code=200, media_type=ctype)


# -- container -------------------------------------------------------------------------------


async def container(request: Request, project_id: str, name: str) -> Response:
    service = cloud_of(request).objectstore
    caller = await _caller(request)
    method = request.method
    headers = _headers(request)
    if method == "PUT" and "extract-archive" in request.query_params:
        return await _extract(request, caller, project_id, name)
    if method == "PUT":
        created = await _in_thread(service.create_container, caller, project_id, name, headers)
        return Response(status_code=201 if created else 202, media_type=views.HTML_TYPE)
    if method == "POST":
        await _in_thread(service.update_container, caller, project_id, name, headers)
        return Response(status_code=204, media_type=views.HTML_TYPE)
    if method == "DELETE":
        await _in_thread(service.delete_container, caller, project_id, name)
        return Response(status_code=204, media_type=views.HTML_TYPE)
    if method == "HEAD":
        row, owner = await _in_thread(service.show_container, caller, project_id, name)
        return Response(status_code=204, headers=views.container_headers(row, owner), media_type=views.PLAIN_TYPE)
    if method == "GET":
        query = _listing_query(request)
        row, owner, entries = await _in_thread(service.list_objects, caller, project_id, name, query)
        fmt = views.listing_format(request.query_params.get("format"), request.headers.get("accept", ""))
        body, ctype = views.render_listing(entries, fmt, "container", name)
        status = 204 if not entries and fmt == "plain" else 200
        out = views.container_headers(row, owner)
        out.update(views.cors_headers(row.meta, request.headers.get("origin", "")))
        return Response(body if status == 200 else b"", status_code=status, headers=out, media_type=ctype)
    if method == "OPTIONS":
        return await _preflight(request, project_id, name)
    raise MethodNotAllowed("The method is not allowed for the requested URL.")


async def _preflight(request: Request, project_id: str, name: str) -> Response:
    service = cloud_of(request).objectstore
    origin = request.headers.get("origin", "")
    meta = await _in_thread(service.container_cors, project_id, name)
    cors = views.cors_headers(meta or {}, origin)
    if not cors or not request.headers.get("access-control-request-method"):
        return Response(status_code=401, media_type=views.PLAIN_TYPE)
    cors["Access-Control-Allow-Methods"] = "HEAD, GET, PUT, POST, COPY, OPTIONS, DELETE"
    if meta and meta.get("access-control-max-age"):
        cors["Access-Control-Max-Age"] = meta["access-control-max-age"]
    wanted = request.headers.get("access-control-request-headers")
    if wanted:
        cors["Access-Control-Allow-Headers"] = wanted
    return Response(status_code=200, headers=cors, media_type=views.HTML_TYPE)


# -- object --------------------------------------------------------------------------------------


async def obj(request: Request, project_id: str, container_name: str, name: str) -> Response:
    service = cloud_of(request).objectstore
    caller = await _caller(request, name)
    method = request.method
    headers = _headers(request)
    query = request.query_params
    if method in ("GET", "HEAD"):
        return await _get_object(request, caller, project_id, container_name, name)
    if method == "PUT":
        if "x-copy-from" in headers:
            source = _split_copy_path(headers["x-copy-from"])
            return await _copy(request, caller, project_id, source, (container_name, name), headers)
        declared = _declared_size(request)
        if query.get("multipart-manifest") == "put":
            body = await _small_body(request, MAX_MANIFEST_SIZE)
            result = await _in_thread(service.put_slo_manifest, caller, project_id, container_name, name,
                                      headers, body)
            return _created(result.etag, result.timestamp)
        plan = await _in_thread(service.begin_put, caller, project_id, container_name, name, headers, declared)
        result = await receive_object(service, plan, _client_bytes(request), declared)
        return _created(result.etag, result.timestamp)
    if method == "COPY":
        destination = headers.get("destination")
        if not destination:
            raise ApiError("Destination header required", status=412)
        target = _split_copy_path(destination)
        return await _copy(request, caller, project_id, (container_name, name), target, headers)
    if method == "POST":
        await _in_thread(service.update_object, caller, project_id, container_name, name, headers)
        return Response(status_code=202, media_type=views.HTML_TYPE)
    if method == "DELETE":
        if query.get("multipart-manifest") == "delete":
            result = await _in_thread(service.delete_slo, caller, project_id, container_name, name)
            content, ctype = render_bulk(result, request.headers.get("accept", ""))
            return Response(content, status_code=200, media_type=ctype)
        await _in_thread(service.delete_object, caller, project_id, container_name, name, headers)
        return Response(status_code=204, media_type=views.HTML_TYPE)
    if method == "OPTIONS":
        return await _preflight(request, project_id, container_name)
    raise MethodNotAllowed("The method is not allowed for the requested URL.")


async def _copy(request: Request, caller: Caller, project_id: str, source: tuple[str, str],
                target: tuple[str, str], headers: dict[str, str]) -> Response:
    service = cloud_of(request).objectstore
    read, plan = await _in_thread(service.begin_copy, caller, project_id, source, target, headers)
    result = await copy_object(service, read, plan)
    from gureum.objectstore.conditions import http_date  # noqa: PLC0415

    extra = {"X-Copied-From": f"{source[0]}/{source[1]}", "X-Copied-From-Account": ACCOUNT_PREFIX + project_id,
             "X-Copied-From-Last-Modified": http_date(read.timestamp), "Content-Type": plan.content_type,
             **views.meta_headers(plan.meta)}
    return _created(result.etag, result.timestamp, extra)


async def _get_object(request: Request, caller: Caller, project_id: str, container_name: str, name: str) -> Response:
    service = cloud_of(request).objectstore
    manifest_get = request.query_params.get("multipart-manifest") == "get"
    read = await _in_thread(service.open_object, caller, project_id, container_name, name, _headers(request),
                            manifest_get)
    headers = views.object_headers(read)
    if caller.tempurl is not None:
        headers["Content-Disposition"] = views.tempurl_disposition(
            name, request.query_params.get("filename"), "inline" in request.query_params)
    if request.method == "HEAD":
        headers["Content-Length"] = str(read.size)
        return Response(status_code=200, headers=headers, media_type=None)
    if read.body is not None:
        return Response(read.body, status_code=200, headers=headers, media_type=None)
    ranges = None
    if "range" in request.headers:
        ranges = parse_ranges(request.headers["range"], read.size)
    if not ranges:
        headers["Content-Length"] = str(read.size)
        chunks = read_segments(service.store, read.segments, 0, read.size)
        return StreamingResponse(stream(chunks), status_code=200, headers=headers)
    if len(ranges) == 1:
        first, last = ranges[0]
        headers["Content-Range"] = f"bytes {first}-{last}/{read.size}"
        headers["Content-Length"] = str(last - first + 1)
        chunks = read_segments(service.store, read.segments, first, last - first + 1)
        return StreamingResponse(stream(chunks), status_code=206, headers=headers)
    boundary = secrets.token_hex(16)
    content_type = headers.pop("Content-Type")
    headers["Content-Type"] = f"multipart/byteranges;boundary={boundary}"
    body_parts, length = byteranges_body(ranges, read.size, content_type, boundary,
                                         lambda first, size: read_segments(service.store, read.segments, first, size))
    headers["Content-Length"] = str(length)
    return StreamingResponse(stream(body_parts), status_code=206, headers=headers)


# -- routing ------------------------------------------------------------------------------------------


async def dispatch(request: Request) -> Response:
    rest = request.path_params.get("rest", "")
    parts = rest.split("/", 2)
    project_id = _project_of(parts[0])
    if len(parts) == 1 or (len(parts) == 2 and not parts[1]):
        return await account(request, project_id)
    if len(parts) == 2 or (len(parts) == 3 and not parts[2]):
        return await container(request, project_id, parts[1])
    if not parts[1]:
        raise NotFound("The resource could not be found.")
    return await obj(request, project_id, parts[1], parts[2])


async def info(request: Request) -> Response:
    return JSONResponse(views.info_document())


async def healthcheck(request: Request) -> Response:
    return Response("OK", media_type="text/plain")


async def root(request: Request) -> Response:
    raise NotFound("The resource could not be found.")


class TransIdMiddleware:
    """X-Trans-Id (and the same as X-Openstack-Request-Id) on every answer, errors included."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trans_id = new_trans_id()
        scope[TRANS_ID_KEY] = trans_id

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-openstack-request-id"]
                headers += [(b"x-trans-id", trans_id.encode()), (b"x-openstack-request-id", trans_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "COPY", "OPTIONS"]


def swift_app() -> Any:
    app: Starlette = service_app([
        Route("/", root, methods=METHODS),
        Route("/info", info, methods=["GET", "HEAD"]),
        Route("/healthcheck", healthcheck, methods=["GET", "HEAD"]),
        Route("/v1/{rest:path}", dispatch, methods=METHODS),
        Route("/v1.0/{rest:path}", dispatch, methods=METHODS),
    ], render_swift)
    return TransIdMiddleware(app)


__all__ = ["swift_app", "render_swift", "json"]
