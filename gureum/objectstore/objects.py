"""Object methods: open for GET/HEAD, the two halves of a PUT, POST, DELETE, copy.

A PUT is begin_put (checks that need no bytes: the container, the name, metadata,
quotas against the declared length) → the bytes into a temp file (transfers.py)
→ finish_put (one transaction: the row, its counters, the old blob queued). The
same finish serves copies, whose bytes are read from the source's blobs.
"""

from __future__ import annotations

import hashlib
import mimetypes
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gureum.http.errors import BadRequest, NotFound, PayloadTooLarge, PreconditionFailed
from gureum.objectstore import conditions
from gureum.objectstore.access import Caller
from gureum.objectstore.limits import DLO_MAX_SEGMENTS, MAX_FILE_SIZE, Unprocessable, check_object_name
from gureum.objectstore.listing import ListingQuery, keyset_list
from gureum.objectstore.metadata import delete_at as parse_delete_at
from gureum.objectstore.metadata import kept_headers, object_meta
from gureum.objectstore.models import Account, Container, StoredObject
from gureum.objectstore.store import WrittenBlob

if TYPE_CHECKING:
    from gureum.objectstore.service import ObjectStoreService

NOT_FOUND = "The resource could not be found."
QUOTA_EXCEEDED = "Upload exceeds quota."
DEFAULT_CONTENT_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Segment:
    blob_id: str
    offset: int
    length: int


@dataclass
class ObjectRead:
    """What GET/HEAD answer with: the row's facts and the blob pieces in order."""

    container: str
    name: str
    size: int
    etag: str  # as sent in the Etag header (quoted for SLO and DLO)
    content_type: str
    timestamp: float
    meta: dict[str, str]
    headers: dict[str, str]
    kind: str
    delete_at: float | None
    segments: list[Segment] = field(default_factory=list)
    manifest_etag: str | None = None
    # multipart-manifest=get on an SLO: the manifest itself is the body.
    body: bytes | None = None


@dataclass
class PutPlan:
    """A PUT that passed every check that needs no bytes."""

    project_id: str
    container_id: str
    container: str
    name: str
    content_type: str
    meta: dict[str, str]
    headers: dict[str, str]
    delete_at: float | None
    expected_etag: str | None
    max_bytes: int
    if_none_match: bool
    kind: str = "plain"
    manifest: Any = None
    etag_override: str | None = None


@dataclass
class PutResult:
    etag: str
    timestamp: float


def _expected_etag(headers: Mapping[str, str]) -> str | None:
    value = headers.get("etag")
    return value.strip().strip('"').lower() if value else None


def _content_type(headers: Mapping[str, str], name: str) -> str:
    given = headers.get("content-type", "").strip()
    if given and headers.get("x-detect-content-type", "").lower() not in ("true", "1", "yes"):
        return given[:256]
    return mimetypes.guess_type(name)[0] or DEFAULT_CONTENT_TYPE


def _quota(meta: Mapping[str, Any], key: str) -> int | None:
    value = meta.get(key)
    return int(value) if isinstance(value, str) and value.isdigit() else None


def dlo_etag(etags: list[str]) -> str:
    return hashlib.md5("".join(etags).encode(), usedforsecurity=False).hexdigest()


class ObjectMethods:
    # -- reading -----------------------------------------------------------------------

    def _object_container(self: "ObjectStoreService", s: Session, caller: Caller, project_id: str,
                          container: str, write: bool) -> Container:
        row = self.find_container(s, project_id, container)
        if caller.tempurl is not None:
            # A TempURL decides alone, whatever token came with it (as Swift's tempurl).
            if row is None:
                raise NotFound(NOT_FOUND, kind="NoSuchBucket")
            self.tempurl_allows(s, caller, row)
            return row
        if row is None:
            if caller.reads(project_id):
                raise NotFound(NOT_FOUND, kind="NoSuchBucket")
            raise caller.denied()
        allowed = self.may_write(caller, row) if write else self.may_read(caller, row)
        if not allowed:
            raise caller.denied()
        return row

    def open_object(self: "ObjectStoreService", caller: Caller, project_id: str, container: str, name: str,
                    request_headers: Mapping[str, str], manifest_get: bool = False) -> ObjectRead:
        with self.db.read() as s:
            box = self._object_container(s, caller, project_id, container, write=False)
            row = self.live_object(s, box, name)
            if row is None:
                conditions.check(request_headers, "", 0, exists=False)
                raise NotFound(NOT_FOUND)
            read = self._describe(s, caller, box, row, manifest_get)
        conditions.check(request_headers, read.etag.strip('"'), read.timestamp,
                         response_headers={"Etag": read.etag})
        return read

    def _describe(self: "ObjectStoreService", s: Session, caller: Caller, box: Container, row: StoredObject,
                  manifest_get: bool) -> ObjectRead:
        read = ObjectRead(container=box.name, name=row.name, size=row.size, etag=row.etag,
                          content_type=row.content_type, timestamp=row.timestamp, meta=dict(row.meta),
                          headers=dict(row.headers), kind=row.kind, delete_at=row.delete_at)
        if row.kind == "slo":
            read.etag = f'"{row.etag}"'
            read.manifest_etag = row.headers.get("x-manifest-etag")
            if manifest_get:
                body = self.manifest_listing(row.manifest)
                read.body = body
                read.size = len(body)
                read.content_type = "application/json; charset=utf-8"
                read.etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
            else:
                read.segments = self.slo_segments(s, box.project_id, row.manifest)
        elif row.kind == "parts":
            read.etag = f'"{row.etag}"'
            read.segments = [Segment(p["blob_id"], 0, p["bytes"]) for p in row.manifest]
        elif row.kind == "dlo" and not manifest_get:
            segments, etags = self._dlo_segments(s, caller, box.project_id, row.headers.get("x-object-manifest", ""))
            read.segments = segments
            read.size = sum(seg.length for seg in segments)
            read.etag = f'"{dlo_etag(etags)}"'
        elif row.blob_id:
            read.segments = [Segment(row.blob_id, 0, row.size)] if row.size else []
        return read

    def _dlo_segments(self: "ObjectStoreService", s: Session, caller: Caller, project_id: str,
                      manifest: str) -> tuple[list[Segment], list[str]]:
        container, _, prefix = manifest.partition("/")
        box = self.find_container(s, project_id, container)
        if box is None:
            return [], []
        if not self.may_read(caller, box) and not self.tempurl_allows(s, caller, box):
            raise caller.denied()
        now = time.time()
        base = select(StoredObject).where(StoredObject.container_id == box.id,
                                          or_(StoredObject.delete_at.is_(None), StoredObject.delete_at > now))
        rows = keyset_list(s, base, StoredObject.name, ListingQuery(prefix=prefix, limit=DLO_MAX_SEGMENTS))
        segments = [Segment(r.blob_id, 0, r.size) for r in rows if r.blob_id and r.size]
        return segments, [r.etag for r in rows]

    # -- writing -------------------------------------------------------------------------

    def begin_put(self: "ObjectStoreService", caller: Caller, project_id: str, container: str, name: str,
                  headers: Mapping[str, str], declared_size: int | None) -> PutPlan:
        check_object_name(name)
        if declared_size is not None and declared_size > MAX_FILE_SIZE:
            raise PayloadTooLarge("Your request is too large.")
        now = time.time()
        meta = object_meta(headers)
        expires = parse_delete_at(headers, now)
        with self.db.read() as s:
            box = self._object_container(s, caller, project_id, container, write=True)
            existing = self.live_object(s, box, name, now)
            if headers.get("if-none-match", "").strip() == "*" and existing is not None:
                raise PreconditionFailed("A precondition for this request was not met.")
            if "if-none-match" in headers and headers["if-none-match"].strip() != "*":
                raise BadRequest("If-None-Match only supports *")
            room = self._room(s, box, existing, adding=1)
        max_bytes = min(MAX_FILE_SIZE, room)
        if declared_size is not None and declared_size > max_bytes:
            raise PayloadTooLarge(QUOTA_EXCEEDED)
        kept = kept_headers(headers)
        kind = "plain"
        if "x-object-manifest" in kept:
            manifest = kept["x-object-manifest"].strip().lstrip("/")
            if "/" not in manifest or manifest.startswith("/"):
                raise BadRequest("X-Object-Manifest must be in the format container/prefix")
            kept["x-object-manifest"] = manifest
            kind = "dlo"
        return PutPlan(project_id=project_id, container_id=box.id, container=box.name, name=name,
                       content_type=_content_type(headers, name), meta=meta, headers=kept, delete_at=expires,
                       expected_etag=_expected_etag(headers), max_bytes=max_bytes,
                       if_none_match=headers.get("if-none-match", "").strip() == "*", kind=kind)

    def _room(self: "ObjectStoreService", s: Session, box: Container, existing: StoredObject | None,
              adding: int) -> int:
        """Bytes this object may have under the container's and the account's quotas (413 if none)."""
        room = MAX_FILE_SIZE
        old = existing.size if existing is not None else 0
        count_quota = _quota(box.meta, "quota-count")
        if count_quota is not None and existing is None and box.object_count + adding > count_quota:
            raise PayloadTooLarge(QUOTA_EXCEEDED)
        bytes_quota = _quota(box.meta, "quota-bytes")
        if bytes_quota is not None:
            room = min(room, bytes_quota - box.bytes_used + old)
        account = s.get(Account, box.project_id)
        if account is not None:
            for key in ("quota-bytes", "sys:quota-bytes"):
                account_quota = _quota(account.meta, key)
                if account_quota is not None:
                    room = min(room, account_quota - account.bytes_used + old)
            objects_quota = _quota(account.meta, "sys:quota-count")
            if objects_quota is not None and existing is None and account.object_count + adding > objects_quota:
                raise PayloadTooLarge(QUOTA_EXCEEDED)
        if room < 0:
            raise PayloadTooLarge(QUOTA_EXCEEDED)
        return room

    def finish_put(self: "ObjectStoreService", plan: PutPlan, blob: WrittenBlob | None,
                   finishing_upload: str | None = None) -> PutResult:
        """Commit the row for bytes already in place (or none, for a manifest); 422 on ETag mismatch."""
        size = blob.size if blob is not None else 0
        etag = plan.etag_override or (blob.md5 if blob is not None else hashlib.md5(b"", usedforsecurity=False).hexdigest())
        if plan.kind in ("slo", "parts"):
            size = sum(int(seg["bytes"]) for seg in plan.manifest)
        if plan.expected_etag and plan.kind == "plain" and plan.expected_etag != etag:
            raise Unprocessable("The ETag you sent does not match the MD5 of the data received.")
        now = time.time()
        freed: list[str] = []
        with self.db.session() as s:
            box = self.lock_container_row(s, plan.container_id)
            existing = self.live_object(s, box, plan.name, now)
            stale = s.get(StoredObject, (box.id, plan.name)) if existing is None else None
            if plan.if_none_match and existing is not None:
                raise PreconditionFailed("A precondition for this request was not met.")
            if plan.kind != "slo" and size > self._room(s, box, existing, adding=1):
                raise PayloadTooLarge(QUOTA_EXCEEDED)
            if stale is not None:
                freed += self.drop_object_row(s, box, stale)
            if existing is not None and box.versions_location:
                self.archive_version(s, box, existing)
                existing = None
            fields = dict(blob_id=blob.blob_id if blob is not None and blob.size else None, size=size, etag=etag,
                          content_type=plan.content_type, timestamp=now, meta=plan.meta, headers=plan.headers,
                          delete_at=plan.delete_at, kind=plan.kind, manifest=plan.manifest)
            if finishing_upload is not None:
                # The parts' blobs now belong to the object row.
                freed += self.drop_upload(s, finishing_upload, keep={p["blob_id"] for p in plan.manifest})
            if existing is not None:
                for old_blob in self.blobs_of(existing):
                    freed += self.queue_garbage(s, old_blob)
                old_size = existing.size
                for key, value in fields.items():
                    setattr(existing, key, value)
                self.count_change(s, box, 0, size - old_size)
            else:
                s.add(StoredObject(container_id=box.id, name=plan.name, **fields))
                s.flush()
                self.count_change(s, box, 1, size)
            if blob is not None and not blob.size:
                # An empty object has no file to keep.
                freed.append(blob.blob_id)
        self.free_blobs(freed)
        return PutResult(etag=etag if plan.kind in ("plain", "dlo") else f'"{etag}"', timestamp=now)

    def update_object(self: "ObjectStoreService", caller: Caller, project_id: str, container: str, name: str,
                      headers: Mapping[str, str]) -> None:
        """POST: the new X-Object-Meta-* replace all the old; also Content-Type, expiry."""
        now = time.time()
        meta = object_meta(headers)
        expires = parse_delete_at(headers, now)
        with self.db.session() as s:
            box = self._object_container(s, caller, project_id, container, write=True)
            row = self.live_object(s, box, name, now)
            if row is None:
                raise NotFound(NOT_FOUND)
            row.meta = meta
            kept = {k: v for k, v in row.headers.items() if k in ("x-manifest-etag",)}
            kept.update(kept_headers(headers))
            if row.kind == "dlo" and "x-object-manifest" not in kept:
                row.kind = "plain"
            elif "x-object-manifest" in kept and row.kind == "plain":
                row.kind = "dlo"
            row.headers = kept
            if "content-type" in headers:
                row.content_type = headers["content-type"][:256]
            if "x-remove-delete-at" in headers:
                row.delete_at = None
            elif expires is not None:
                row.delete_at = expires

    def delete_object(self: "ObjectStoreService", caller: Caller, project_id: str, container: str, name: str,
                      request_headers: Mapping[str, str] | None = None) -> None:
        now = time.time()
        freed: list[str] = []
        with self.db.session() as s:
            box = self._object_container(s, caller, project_id, container, write=True)
            box = self.lock_container_row(s, box.id)
            row = self.live_object(s, box, name, now)
            if row is None:
                if not box.versions_location or not self.restore_version(s, box, name):
                    raise NotFound(NOT_FOUND)
            else:
                if request_headers:
                    conditions.check({k: v for k, v in request_headers.items() if k == "if-match"},
                                     row.etag, row.timestamp)
                freed += self.drop_object_row(s, box, row)
                if box.versions_location:
                    self.restore_version(s, box, name)
        self.free_blobs(freed)

    # -- copy ----------------------------------------------------------------------------------

    def begin_copy(self: "ObjectStoreService", caller: Caller, project_id: str, source: tuple[str, str],
                   target: tuple[str, str], headers: Mapping[str, str]) -> tuple[ObjectRead, PutPlan]:
        """The source to read (with its segments) and the PUT its bytes become."""
        check_object_name(target[1])
        read = self.open_object(caller, project_id, source[0], source[1], {})
        fresh = headers.get("x-fresh-metadata", "").lower() in ("true", "1", "yes")
        put_headers: dict[str, str] = {}
        if not fresh:
            put_headers.update({f"x-object-meta-{k}": v for k, v in read.meta.items()})
            put_headers.update({k: v for k, v in read.headers.items() if k not in ("x-object-manifest", "x-manifest-etag")})
            put_headers["content-type"] = read.content_type
        put_headers.update({k: v for k, v in headers.items()
                            if k.startswith("x-object-meta-") or k in ("content-type", "x-delete-at", "x-delete-after",
                                                                         "content-disposition", "content-encoding")})
        if read.size > MAX_FILE_SIZE:
            raise PayloadTooLarge("Your request is too large.")
        plan = self.begin_put(caller, project_id, target[0], target[1], put_headers, read.size)
        return read, plan
