"""S3 over HTTP, path style under /s3: /s3 (ListBuckets), /s3/<bucket>, /s3/<bucket>/<key>.

Each request is checked with SigV4 (header or presigned query): this module builds
the canonical request and string to sign, identity checks the signature against
the credential's secret and answers the owner's context. A bucket is a container
of the credential's project, so Swift and S3 see the same objects. Errors are S3's
XML with S3's codes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, unquote
from xml.etree import ElementTree

import anyio
import anyio.to_thread
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from gureum.http.endpoint import cloud_of
from gureum.http.errors import ApiError, Unauthorized
from gureum.http.service_app import service_app
from gureum.objectstore.access import Caller
from gureum.objectstore.api.swift import TRANS_ID_KEY, TransIdMiddleware, close_if_body_unread, with_trans_id
from gureum.objectstore.conditions import http_date
from gureum.objectstore.listing import ListingQuery, Subdir
from gureum.objectstore.metadata import title_header
from gureum.objectstore.ranges import parse_ranges
from gureum.objectstore.s3 import sigv4
from gureum.objectstore.s3 import views
from gureum.objectstore.s3.chunked import ChunkedDecoder
from gureum.objectstore.s3.sigv4 import SignatureProblem, SignedRequest
from gureum.objectstore.store import WrittenBlob
from gureum.objectstore.transfers import copy_object, read_segments, receive_object, receive_part, stream

MAX_LISTED = 1000  # keys, uploads or parts in one listing, as AWS
MAX_INT = 2147483647
MAX_XML_BODY = 2 * 1024 * 1024


def s3_error(code: str, message: str, status: int) -> ApiError:
    return ApiError(message, status=status, kind=code)


def render_s3(request: Request, exc: ApiError) -> Response:
    status = 403 if exc.status == 401 else exc.status
    if status == 304:
        return Response(status_code=304, headers=dict(exc.headers))
    code = exc.kind or views.CODES.get(exc.status)
    if code is None:
        code = "NoSuchKey" if exc.status == 404 else ("InternalError" if exc.status >= 500 else "InvalidRequest")
    if exc.status == 404 and exc.kind is None and len(_path_parts(request)) < 2:
        code = "NoSuchBucket"
    headers = {k: v for k, v in exc.headers.items() if k.lower() not in ("www-authenticate",)}
    close_if_body_unread(request, headers)
    with_trans_id(request, headers)
    body = views.error_xml(code, exc.message, request.url.path, request.scope.get(TRANS_ID_KEY, ""))
    return Response(body, status_code=status, headers=headers, media_type=views.XML_TYPE)


def _path_parts(request: Request) -> list[str]:
    rest = request.path_params.get("rest", "")
    bucket, _, key = rest.partition("/")
    return [p for p in (bucket, key) if p]


def _headers(request: Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


async def _authenticate(request: Request) -> tuple[Caller, SignedRequest | None, str]:
    """The caller, the signing facts and the string to sign (for chunk signatures)."""
    headers = _headers(request)
    raw_query = request.scope.get("query_string", b"").decode("latin-1")
    try:
        signed = sigv4.parse(request.method, headers, parse_qsl(raw_query, keep_blank_values=True))
        if signed is None:
            return Caller(ctx=None), None, ""
        raw_path = (request.scope.get("raw_path") or request.scope["path"].encode()).decode("latin-1")
        raw_path = raw_path.split("?", 1)[0]
        if signed.version == 2:
            # botocore signs a SigV2 resource without the endpoint's own path (our /s3).
            mount = request.scope.get("root_path", "") or "/s3"
            resource = raw_path[len(mount):] if raw_path.startswith(mount + "/") else raw_path
            string_to_sign = sigv4.v2_string_to_sign(request.method, resource, raw_query, headers, signed)
        else:
            canonical = sigv4.canonical_request(request.method, raw_path, raw_query, headers, signed)
            string_to_sign = signed.string_to_sign(canonical)
    except SignatureProblem as exc:
        raise s3_error(exc.code, exc.message, 400 if exc.code != "AccessDenied" else 403) from None
    identity = cloud_of(request).identity
    try:
        ctx = await anyio.to_thread.run_sync(lambda: identity.s3_context(
            signed.access_key, string_to_sign, signed.signature,
            remote_addr=request.client.host if request.client else "",
            request_id=request.scope.get(TRANS_ID_KEY, "")))
    except Unauthorized as exc:
        if type(exc).__name__ == "UnknownAccessKey":
            raise s3_error("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.",
                           403) from None
        raise s3_error("SignatureDoesNotMatch", "The request signature we calculated does not match the signature "
                       "you provided. Check your key and signing method.", 403) from None
    return Caller(ctx=ctx), signed, string_to_sign


def _project(caller: Caller) -> str:
    if caller.ctx is None or not caller.ctx.project_id:
        raise s3_error("AccessDenied", "Access Denied", 403)
    return caller.ctx.project_id


async def _in_thread(func: Any, *args: Any, **kwargs: Any) -> Any:
    return await anyio.to_thread.run_sync(lambda: func(*args, **kwargs))


async def _client_bytes(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect:
        raise s3_error("IncompleteBody", "The client closed the connection before the body arrived.", 400) from None


async def _small_body(request: Request) -> bytes:
    body = bytearray()
    async for chunk in _client_bytes(request):
        body += chunk
        if len(body) > MAX_XML_BODY:
            raise s3_error("MaxMessageLengthExceeded", "Your request was too big.", 400)
    return bytes(body)


class _PayloadCheck:
    """What the body must match once written: a signed SHA-256, Content-MD5, a CRC32 header or trailer."""

    def __init__(self, headers: dict[str, str], sha256: str | None, decoder: ChunkedDecoder | None) -> None:
        self.headers = headers
        self.sha256 = sha256
        self.decoder = decoder
        self.digest = hashlib.sha256() if sha256 else None

    async def tap(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            if self.digest is not None:
                self.digest.update(chunk)
            yield chunk

    def __call__(self, blob: WrittenBlob) -> None:
        if self.digest is not None and self.digest.hexdigest() != self.sha256:
            raise s3_error("XAmzContentSHA256Mismatch",
                           "The provided 'x-amz-content-sha256' header does not match what was computed.", 400)
        if "content-md5" in self.headers:
            try:
                wanted = base64.b64decode(self.headers["content-md5"], validate=True).hex()
            except (binascii.Error, ValueError):
                raise s3_error("InvalidDigest", "The Content-MD5 you specified was invalid.", 400) from None
            if wanted != blob.md5:
                raise s3_error("BadDigest", "The Content-MD5 you specified did not match what we received.", 400)
        crc = self.headers.get("x-amz-checksum-crc32")
        if crc is None and self.decoder is not None:
            crc = self.decoder.trailers.get("x-amz-checksum-crc32")
        if crc is not None and crc != base64.b64encode(blob.crc32.to_bytes(4, "big")).decode():
            raise s3_error("BadDigest", "The CRC32 you specified did not match the calculated checksum.", 400)
        other = [k for k in self.headers if k.startswith("x-amz-checksum-") and k not in ("x-amz-checksum-crc32",
                                                                                            "x-amz-checksum-algorithm")]
        if other:
            raise s3_error("InvalidRequest", f"Only CRC32 checksums are supported, not {other[0]}.", 400)


async def _body(request: Request, signed: SignedRequest | None, string_to_sign: str
                ) -> tuple[AsyncIterator[bytes], int | None, _PayloadCheck]:
    headers = _headers(request)
    payload = signed.payload_hash if signed else sigv4.UNSIGNED
    chunked = "aws-chunked" in headers.get("content-encoding", "") or payload.startswith("STREAMING-")
    if chunked:
        raw = headers.get("x-amz-decoded-content-length")
        if raw is None or not raw.isdigit():
            raise s3_error("MissingContentLength", "aws-chunked uploads need x-amz-decoded-content-length.", 411)
        sign_chunk = None
        if signed is not None and payload in (sigv4.STREAMING_SIGNED, sigv4.STREAMING_SIGNED_TRAILER):
            identity = cloud_of(request).identity
            key = await anyio.to_thread.run_sync(identity.s3_signing_key, signed.access_key, string_to_sign)

            def sign_chunk(previous: str, chunk_sha256: str) -> str:
                return sigv4.chunk_signature(key, sigv4.chunk_string_to_sign(signed, previous, chunk_sha256))
        decoder = ChunkedDecoder(sign_chunk, signed.signature if signed else "")
        check = _PayloadCheck(headers, None, decoder)
        return _decoded(decoder, _client_bytes(request)), int(raw), check
    length = headers.get("content-length")
    if length is None and "chunked" not in headers.get("transfer-encoding", ""):
        raise s3_error("MissingContentLength", "You must provide the Content-Length HTTP header.", 411)
    declared = int(length) if length and length.isdigit() else None
    sha = payload if len(payload) == 64 and all(c in "0123456789abcdef" for c in payload) else None
    check = _PayloadCheck(headers, sha, None)
    return check.tap(_client_bytes(request)), declared, check


async def _decoded(decoder: ChunkedDecoder, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        async for piece in decoder.decode(chunks):
            yield piece
    except SignatureProblem as exc:
        raise s3_error(exc.code, exc.message, 403 if exc.code == "SignatureDoesNotMatch" else 400) from None


def _swift_headers(headers: dict[str, str]) -> dict[str, str]:
    """S3 request headers as the Swift-side service reads them."""
    out = {f"x-object-meta-{k[len('x-amz-meta-'):]}": v for k, v in headers.items() if k.startswith("x-amz-meta-")}
    for key in ("content-type", "content-disposition", "content-encoding", "cache-control", "expires",
                "if-match", "if-none-match", "if-modified-since", "if-unmodified-since"):
        if key in headers:
            out[key] = headers[key]
    if "aws-chunked" in out.get("content-encoding", ""):
        rest = [e.strip() for e in out["content-encoding"].split(",") if e.strip() != "aws-chunked"]
        if rest:
            out["content-encoding"] = ",".join(rest)
        else:
            out.pop("content-encoding")
    return out


# -- service level ---------------------------------------------------------------------------


async def list_buckets(request: Request) -> Response:
    caller, _, _ = await _authenticate(request)
    project_id = _project(caller)
    service = cloud_of(request).objectstore
    _, rows = await _in_thread(service.list_containers, caller, project_id, ListingQuery(limit=10000))
    return Response(views.list_buckets(project_id, rows), media_type=views.XML_TYPE)


# -- bucket level ---------------------------------------------------------------------------------


async def bucket_request(request: Request, caller: Caller, project_id: str, bucket: str) -> Response:
    service = cloud_of(request).objectstore
    method, query = request.method, request.query_params
    if method == "PUT":
        await _small_body(request)  # CreateBucketConfiguration: one region, nothing to choose
        created = await _in_thread(service.create_container, caller, project_id, bucket, {})
        if not created:
            raise s3_error("BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded "
                           "and you already own it.", 409)
        return Response(status_code=200, headers={"Location": f"/{bucket}"})
    if method == "HEAD":
        await _in_thread(service.show_container, caller, project_id, bucket)
        return Response(status_code=200, headers={"x-amz-bucket-region": "us-east-1"})
    if method == "DELETE":
        await _in_thread(service.delete_container, caller, project_id, bucket)
        return Response(status_code=204)
    if method == "POST" and "delete" in query:
        return await _delete_objects(request, caller, project_id, bucket)
    if method == "GET":
        if "location" in query:
            await _in_thread(service.show_container, caller, project_id, bucket)
            return Response(views.location(), media_type=views.XML_TYPE)
        if "uploads" in query:
            return await _list_uploads(request, caller, project_id, bucket)
        for unsupported in ("versioning", "acl", "policy", "lifecycle", "cors", "tagging"):
            if unsupported in query:
                raise s3_error("NotImplemented", f"?{unsupported} is not implemented by gureum's S3.", 501)
        return await _list_objects(request, caller, project_id, bucket)
    raise s3_error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)


async def _list_objects(request: Request, caller: Caller, project_id: str, bucket: str) -> Response:
    service = cloud_of(request).objectstore
    query = request.query_params
    v2 = query.get("list-type") == "2"
    max_keys = min(_count(query, "max-keys", MAX_LISTED), MAX_LISTED)
    token = query.get("continuation-token", "")
    if v2:
        try:
            marker = base64.urlsafe_b64decode(token.encode()).decode() if token else query.get("start-after", "")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise s3_error("InvalidArgument", "The continuation token provided is incorrect", 400) from None
    else:
        marker = query.get("marker", "")
    prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
    listing = ListingQuery(prefix=prefix, delimiter=delimiter, marker=marker, limit=max_keys + 1)
    _, _, entries = await _in_thread(service.list_objects, caller, project_id, bucket, listing)
    truncated = len(entries) > max_keys
    entries = entries[:max_keys]
    last = entries[-1].name if entries else ""
    next_token = base64.urlsafe_b64encode(last.encode()).decode() if v2 else last
    body = views.list_objects(bucket, project_id, entries, prefix=prefix, delimiter=delimiter, max_keys=max_keys,
                              truncated=truncated, v2=v2, start=query.get("start-after", ""),
                              next_token=next_token, marker=token if v2 else marker,
                              fetch_owner=query.get("fetch-owner") == "true")
    return Response(body, media_type=views.XML_TYPE)


def _count(query: Any, name: str, default: int) -> int:
    """A paging number from the query: an integer 0..2^31-1, or InvalidArgument."""
    raw = query.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise s3_error("InvalidArgument", f"Provided {name} not an integer or within integer range", 400) from None
    if not 0 <= value <= MAX_INT:
        raise s3_error("InvalidArgument", f"Argument {name} must be an integer between 0 and {MAX_INT}", 400)
    return value


def _url_encoding(query: Any) -> bool:
    kind = query.get("encoding-type")
    if kind not in (None, "url"):
        raise s3_error("InvalidArgument", "Invalid Encoding Method specified in Request", 400)
    return kind == "url"


async def _list_uploads(request: Request, caller: Caller, project_id: str, bucket: str) -> Response:
    service = cloud_of(request).objectstore
    query = request.query_params
    max_uploads = min(_count(query, "max-uploads", MAX_LISTED), MAX_LISTED)
    url_encoding = _url_encoding(query)
    prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
    key_marker, upload_id_marker = query.get("key-marker", ""), query.get("upload-id-marker", "")
    listing = await _in_thread(service.list_uploads, caller, project_id, bucket, prefix=prefix, delimiter=delimiter,
                               key_marker=key_marker, upload_id_marker=upload_id_marker if key_marker else "",
                               limit=max_uploads)
    body = views.list_uploads(bucket, project_id, listing, prefix=prefix, delimiter=delimiter,
                              key_marker=key_marker, upload_id_marker=upload_id_marker, max_uploads=max_uploads,
                              url_encoding=url_encoding)
    return Response(body, media_type=views.XML_TYPE)


async def _list_parts(request: Request, caller: Caller, project_id: str, bucket: str, key: str) -> Response:
    service = cloud_of(request).objectstore
    query = request.query_params
    max_parts = min(_count(query, "max-parts", MAX_LISTED), MAX_LISTED)
    marker = _count(query, "part-number-marker", 0)
    upload_id = query["uploadId"]
    listing = await _in_thread(service.list_parts, caller, project_id, bucket, key, upload_id, marker=marker,
                               limit=max_parts)
    body = views.list_parts(bucket, key, upload_id, project_id, listing, marker=marker, max_parts=max_parts)
    return Response(body, media_type=views.XML_TYPE)


async def _delete_objects(request: Request, caller: Caller, project_id: str, bucket: str) -> Response:
    service = cloud_of(request).objectstore
    body = await _small_body(request)
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise s3_error("MalformedXML", "The XML you provided was not well-formed or did not validate.", 400) from None
    local = lambda el: el.tag.rsplit("}", 1)[-1]  # noqa: E731 - namespace or not
    keys = [k.text or "" for obj in root if local(obj) == "Object" for k in obj if local(k) == "Key"]
    quiet = any(local(el) == "Quiet" and (el.text or "").lower() == "true" for el in root)
    if len(keys) > 1000:
        raise s3_error("MalformedXML", "A DeleteObjects request takes at most 1000 keys.", 400)
    deleted, errors = [], []
    for key in keys:
        try:
            await _in_thread(service.delete_object, caller, project_id, bucket, key)
            deleted.append(key)
        except ApiError as exc:
            if exc.status == 404 and exc.kind != "NoSuchBucket":
                deleted.append(key)  # S3 deletes what is not there, too
            elif exc.kind == "NoSuchBucket":
                raise
            else:
                errors.append((key, exc.kind or views.CODES.get(exc.status, "InternalError"), exc.message))
    return Response(views.delete_result(deleted, errors, quiet), media_type=views.XML_TYPE)


# -- object level ------------------------------------------------------------------------------------


def _object_headers(read: Any) -> dict[str, str]:
    etag = read.etag if read.etag.startswith('"') else f'"{read.etag}"'
    headers = {"ETag": etag, "Last-Modified": http_date(read.timestamp), "Content-Type": read.content_type,
               "Accept-Ranges": "bytes"}
    for key, value in read.meta.items():
        headers["x-amz-meta-" + key] = value
    for key, value in read.headers.items():
        if key in ("content-disposition", "content-encoding", "cache-control", "expires"):
            headers[title_header(key)] = value
    return headers


async def object_request(request: Request, caller: Caller, signed: SignedRequest | None, string_to_sign: str,
                         project_id: str, bucket: str, key: str) -> Response:
    service = cloud_of(request).objectstore
    method, query, headers = request.method, request.query_params, _headers(request)
    if method == "POST" and "uploads" in query:
        upload_id = await _in_thread(service.create_upload, caller, project_id, bucket, key, _swift_headers(headers))
        return Response(views.initiate_upload(bucket, key, upload_id), media_type=views.XML_TYPE)
    if method == "POST" and "uploadId" in query:
        body = await _small_body(request)
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError:
            raise s3_error("MalformedXML", "The XML you provided was not well-formed or did not validate.",
                           400) from None
        parts = []
        for part in root:
            fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "") for child in part}
            if not fields.get("PartNumber", "").isdigit():
                raise s3_error("MalformedXML", "Each Part needs a PartNumber.", 400)
            parts.append((int(fields["PartNumber"]), fields.get("ETag", "")))
        result = await _in_thread(service.complete_upload, caller, project_id, bucket, key, query["uploadId"], parts)
        location = f"{request.url.scheme}://{request.url.netloc}/s3/{bucket}/{key}"
        return Response(views.complete_upload(location, bucket, key, result.etag), media_type=views.XML_TYPE)
    if method == "DELETE" and "uploadId" in query:
        await _in_thread(service.abort_upload, caller, project_id, bucket, key, query["uploadId"])
        return Response(status_code=204)
    if method == "GET" and "uploadId" in query:
        return await _list_parts(request, caller, project_id, bucket, key)
    if method == "PUT" and "uploadId" in query:
        number = query.get("partNumber", "")
        if not number.isdigit():
            raise s3_error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive", 400)
        plan = await _in_thread(service.begin_part, caller, project_id, bucket, key, query["uploadId"], int(number))
        chunks, declared, check = await _body(request, signed, string_to_sign)
        etag = await receive_part(service, plan, chunks, declared, check)
        return Response(status_code=200, headers={"ETag": f'"{etag}"'})
    if method == "PUT" and "x-amz-copy-source" in headers:
        source_bucket, _, source_key = unquote(headers["x-amz-copy-source"]).lstrip("/").partition("/")
        source_key = source_key.split("?versionId=", 1)[0]
        swift_headers = _swift_headers(headers) if headers.get("x-amz-metadata-directive") == "REPLACE" else {}
        if swift_headers:
            swift_headers["x-fresh-metadata"] = "true"
        read, plan = await _in_thread(service.begin_copy, caller, project_id, (source_bucket, source_key),
                                      (bucket, key), swift_headers)
        result = await copy_object(service, read, plan)
        return Response(views.copy_result(f'"{result.etag.strip(chr(34))}"', result.timestamp),
                        media_type=views.XML_TYPE)
    if method == "PUT":
        chunks, declared, check = await _body(request, signed, string_to_sign)
        swift_headers = _swift_headers(headers)
        swift_headers.pop("if-match", None)
        plan = await _in_thread(service.begin_put, caller, project_id, bucket, key, swift_headers, declared)
        result = await receive_object(service, plan, chunks, declared, check)
        out = {"ETag": f'"{result.etag.strip(chr(34))}"'}
        if "x-amz-checksum-crc32" in headers or (check.decoder and check.decoder.trailers.get("x-amz-checksum-crc32")):
            out["x-amz-checksum-crc32"] = headers.get("x-amz-checksum-crc32") or check.decoder.trailers[  # type: ignore[union-attr]
                "x-amz-checksum-crc32"]
        return Response(status_code=200, headers=out)
    if method in ("GET", "HEAD"):
        read = await _in_thread(service.open_object, caller, project_id, bucket, key, _swift_headers(headers))
        out = _object_headers(read)
        if method == "HEAD":
            out["Content-Length"] = str(read.size)
            return Response(status_code=200, headers=out)
        ranges = parse_ranges(headers["range"], read.size) if "range" in headers else None
        if ranges and len(ranges) == 1:
            first, last = ranges[0]
            out["Content-Range"] = f"bytes {first}-{last}/{read.size}"
            out["Content-Length"] = str(last - first + 1)
            chunks = read_segments(service.store, read.segments, first, last - first + 1)
            return StreamingResponse(stream(chunks), status_code=206, headers=out)
        out["Content-Length"] = str(read.size)
        chunks = read_segments(service.store, read.segments, 0, read.size)
        return StreamingResponse(stream(chunks), status_code=200, headers=out)
    if method == "DELETE":
        try:
            await _in_thread(service.delete_object, caller, project_id, bucket, key)
        except ApiError as exc:
            if exc.status != 404 or exc.kind == "NoSuchBucket":
                raise
        return Response(status_code=204)
    raise s3_error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)


async def dispatch(request: Request) -> Response:
    rest = request.path_params.get("rest", "")
    bucket, _, key = rest.partition("/")
    if not bucket:
        if request.method != "GET":
            raise s3_error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)
        return await list_buckets(request)
    caller, signed, string_to_sign = await _authenticate(request)
    project_id = _project(caller)
    if not key:
        return await bucket_request(request, caller, project_id, bucket)
    return await object_request(request, caller, signed, string_to_sign, project_id, bucket, key)


async def root(request: Request) -> Response:
    if request.method != "GET":
        raise s3_error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405)
    return await list_buckets(request)


METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE"]


def s3_app() -> Any:
    return TransIdMiddleware(service_app([
        Route("/", root, methods=METHODS),
        Route("/{rest:path}", dispatch, methods=METHODS),
    ], render_s3))


def s3_bare_app() -> Any:
    """`/s3` itself (ListBuckets): a mount only takes paths below it."""
    return TransIdMiddleware(service_app([Route("/s3", root, methods=METHODS)], render_s3))


__all__ = ["s3_app", "s3_bare_app", "render_s3"]
