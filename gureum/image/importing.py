"""Interoperable image import: glance-direct (staged bytes) and web-download (a URL).

`ImageService.import_image` checks and claims the image ('importing'); `run_import`
then runs in a worker thread: get the bytes into the store's temp area, check their
format, commit. Any failure puts the image back in 'queued' with the reason
recorded in `os_glance_failed_import` / `os_glance_import_error`.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gureum.http.errors import BadRequest, Conflict
from gureum.image.formats import ImageFormatError, check_upload, sniff_file
from gureum.image.models import Image
from gureum.image.store import (
    IO_CHUNK_BYTES,
    TransferTooLarge,
    WrittenBlob,
    copy_into,
    hash_file,
)
from gureum.image.views import IMPORT_METHODS

if TYPE_CHECKING:
    from gureum.image.service import ImageService

log = logging.getLogger(__name__)

WEB_DOWNLOAD_SCHEMES = ("http", "https")
WEB_DOWNLOAD_TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class ImportJob:
    task_id: str
    image_id: str
    owner: str | None
    method: str
    uri: str | None
    disk_format: str | None
    container_format: str | None
    max_bytes: int | None


def parse_import_body(body: Any) -> tuple[str, str | None]:
    """The method name and, for web-download, the URI; 400s in glance's words."""
    if body is None:
        raise BadRequest("Body expected in request.")
    if not isinstance(body, dict) or "method" not in body:
        raise BadRequest("Import request requires a 'method' field.")
    method = body["method"]
    if not isinstance(method, dict) or "name" not in method:
        raise BadRequest("Import request requires a 'name' field.")
    name = method["name"]
    if name not in IMPORT_METHODS:
        raise BadRequest(f"Unknown import method name '{name}'.")
    for flag, default in (("all_stores_must_succeed", True), ("all_stores", False)):
        if not isinstance(body.get(flag, default), bool):
            raise BadRequest(f"'{flag}' must be boolean value only")
    if body.get("all_stores_must_succeed", True) is False:
        raise BadRequest("All_stores_must_succeed can only be set with enabled_backends None")
    if name != "web-download":
        return name, None
    uri = method.get("uri")
    if not isinstance(uri, str) or not uri_passes_filter(uri):
        raise BadRequest(f"URI for web-download does not pass filtering: {uri}")
    return name, uri


def uri_passes_filter(uri: str) -> bool:
    parsed = urllib.parse.urlparse(uri)
    return parsed.scheme in WEB_DOWNLOAD_SCHEMES and bool(parsed.hostname)


def check_importable(image: Image, method: str, staged: bool) -> None:
    """Glance's preconditions, each a 409 naming what is wrong."""
    if image.status == "active":
        raise Conflict("Image with status active cannot be target for import")
    if method == "web-download" and image.status != "queued":
        raise Conflict(f"Image needs to be in 'queued' state to use '{method}' method")
    if method == "glance-direct" and (image.status != "uploading" or image.transfer_holder is not None or not staged):
        raise Conflict("Image needs to be staged before 'glance-direct' method can be used")
    if not image.container_format:
        raise Conflict("'container_format' needs to be set before import")
    if not image.disk_format:
        raise Conflict("'disk_format' needs to be set before import")


def _download_chunks(uri: str) -> Iterator[bytes]:
    request = urllib.request.Request(uri, headers={"User-Agent": "gureum-image-import"})
    with urllib.request.urlopen(request, timeout=WEB_DOWNLOAD_TIMEOUT_SECONDS) as response:
        final = response.geturl()
        if not uri_passes_filter(final):
            raise ValueError(f"redirected to a URI that does not pass filtering: {final}")
        while True:
            chunk = response.read(IO_CHUNK_BYTES)
            if not chunk:
                return
            yield chunk


def _fetch(service: ImageService, job: ImportJob) -> WrittenBlob:
    writer = service.store.new_writer(service.holder)
    try:
        copy_into(writer, _download_chunks(job.uri or ""), max_bytes=job.max_bytes)
        return writer.finish()
    except BaseException:
        writer.abort()
        raise


def _staged_blob(service: ImageService, job: ImportJob) -> WrittenBlob:
    path = service.store.staged_path(job.image_id)
    if job.max_bytes is not None and path.stat().st_size > job.max_bytes:
        raise TransferTooLarge(path.stat().st_size, job.max_bytes)
    return hash_file(path, sniff_file(str(path)))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"web-download failed: the server answered {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"web-download failed: {exc.reason}"
    if isinstance(exc, TransferTooLarge):
        return f"image data is over the image_size_total quota ({exc.received} bytes or more)"
    return str(exc) or exc.__class__.__name__


def run_import(service: ImageService, job: ImportJob) -> None:
    """Worker-thread body; never raises (a failure is recorded on the image)."""
    blob: WrittenBlob | None = None
    try:
        blob = _staged_blob(service, job) if job.method == "glance-direct" else _fetch(service, job)
        verdict = check_upload(blob.sniffed, job.disk_format, job.container_format)
        service.finish_import(job.image_id, blob, verdict.virtual_size)
        log.info("image %s: %s import done (%d bytes)", job.image_id, job.method, blob.size)
    except BaseException as exc:
        reason = _describe(exc)
        if not isinstance(exc, (ImageFormatError, TransferTooLarge, urllib.error.URLError, ValueError)):
            log.exception("image %s: %s import failed", job.image_id, job.method)
        else:
            log.warning("image %s: %s import failed: %s", job.image_id, job.method, reason)
        if blob is not None and job.method == "web-download":
            service.store.discard(blob)
        service.fail_import(job.image_id, reason)
