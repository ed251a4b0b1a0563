"""S3 multipart uploads: parts are rows and blobs, never a visible `+segments` container.

Complete turns the listed parts into one object whose manifest names the part blobs
in order (kind 'parts'); its ETag is S3's md5(part digests)-N. Parts left out, and
every part of an aborted upload, are freed at once.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gureum.db.base import new_id
from gureum.http.errors import ApiError, BadRequest, NotFound
from gureum.objectstore.access import Caller
from gureum.objectstore.limits import MAX_FILE_SIZE, check_object_name
from gureum.objectstore.metadata import object_meta
from gureum.objectstore.models import S3Part, S3Upload
from gureum.objectstore.store import WrittenBlob

if TYPE_CHECKING:
    from gureum.objectstore.objects import PutResult
    from gureum.objectstore.service import ObjectStoreService

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10000


def s3_error(kind: str, message: str, status: int = 400) -> ApiError:
    return ApiError(message, status=status, kind=kind)


@dataclass
class UploadRow:
    key: str
    upload_id: str
    initiated: float


@dataclass
class UploadListing:
    """A page of ListMultipartUploads: uploads and common prefixes in key order."""

    uploads: list[UploadRow]
    prefixes: list[str]
    truncated: bool
    next_key: str
    next_upload_id: str


@dataclass
class PartRow:
    part_number: int
    etag: str
    size: int
    modified: float


@dataclass
class PartListing:
    parts: list[PartRow]
    truncated: bool
    next_part: int


@dataclass
class PartPlan:
    upload_id: str
    part_number: int
    max_bytes: int


class MultipartMethods:
    def _upload(self: "ObjectStoreService", s: Session, caller: Caller, project_id: str, bucket: str, key: str,
                upload_id: str, write: bool = True) -> S3Upload:
        box = self._object_container(s, caller, project_id, bucket, write=write)
        upload = s.get(S3Upload, upload_id)
        if upload is None or upload.container_id != box.id or upload.name != key:
            raise s3_error("NoSuchUpload", "The specified upload does not exist.", 404)
        return upload

    def create_upload(self: "ObjectStoreService", caller: Caller, project_id: str, bucket: str, key: str,
                      headers: Mapping[str, str]) -> str:
        check_object_name(key)
        meta = object_meta(headers)
        with self.db.session() as s:
            box = self._object_container(s, caller, project_id, bucket, write=True)
            upload = S3Upload(id=new_id(), container_id=box.id, name=key, meta=meta, created_at=time.time(),
                              content_type=headers.get("content-type", "")[:256] or "binary/octet-stream")
            s.add(upload)
            return upload.id

    def begin_part(self: "ObjectStoreService", caller: Caller, project_id: str, bucket: str, key: str,
                   upload_id: str, part_number: int) -> PartPlan:
        if not 1 <= part_number <= MAX_PARTS:
            raise s3_error("InvalidArgument", f"Part number must be an integer between 1 and {MAX_PARTS}, inclusive")
        with self.db.read() as s:
            self._upload(s, caller, project_id, bucket, key, upload_id)
        return PartPlan(upload_id, part_number, MAX_FILE_SIZE)

    def finish_part(self: "ObjectStoreService", plan: PartPlan, blob: WrittenBlob) -> str:
        freed: list[str] = []
        with self.db.session() as s:
            if s.get(S3Upload, plan.upload_id) is None:
                raise s3_error("NoSuchUpload", "The specified upload does not exist.", 404)
            old = s.get(S3Part, (plan.upload_id, plan.part_number))
            if old is not None:
                freed.append(old.blob_id)
                s.delete(old)
                s.flush()
            s.add(S3Part(upload_id=plan.upload_id, part_number=plan.part_number, blob_id=blob.blob_id,
                         size=blob.size, etag=blob.md5, created_at=time.time()))
            freed and self.queue_garbage(s, freed[0])
        self.free_blobs(freed)
        return blob.md5

    def complete_upload(self: "ObjectStoreService", caller: Caller, project_id: str, bucket: str, key: str,
                        upload_id: str, wanted: list[tuple[int, str]]) -> "PutResult":
        if not wanted:
            raise s3_error("MalformedXML", "The XML you provided was not well-formed or did not validate.")
        numbers = [n for n, _ in wanted]
        if numbers != sorted(numbers) or len(set(numbers)) != len(numbers):
            raise s3_error("InvalidPartOrder", "The list of parts was not in ascending order.")
        with self.db.read() as s:
            upload = self._upload(s, caller, project_id, bucket, key, upload_id)
            parts = {p.part_number: p for p in s.execute(select(S3Part).where(S3Part.upload_id == upload_id)).scalars()}
            box_name = bucket
            meta, content_type = dict(upload.meta), upload.content_type
        chosen = []
        for index, (number, etag) in enumerate(wanted):
            part = parts.get(number)
            if part is None or etag.strip().strip('"').lower() != part.etag:
                raise s3_error("InvalidPart", "One or more of the specified parts could not be found.")
            if part.size < MIN_PART_SIZE and index < len(wanted) - 1:
                raise s3_error("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size.")
            chosen.append(part)
        digest = hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in chosen), usedforsecurity=False).hexdigest()
        headers = {f"x-object-meta-{k}": v for k, v in meta.items()}
        headers["content-type"] = content_type
        plan = self.begin_put(caller, project_id, box_name, key, headers, sum(p.size for p in chosen))
        plan.kind = "parts"
        plan.manifest = [{"blob_id": p.blob_id, "bytes": p.size} for p in chosen]
        plan.etag_override = f"{digest}-{len(chosen)}"
        kept = {p.blob_id for p in chosen}
        result = self.finish_put(plan, None, finishing_upload=upload_id)
        self.free_blobs([p.blob_id for p in parts.values() if p.blob_id not in kept])
        return result

    def list_uploads(self: "ObjectStoreService", caller: Caller, project_id: str, bucket: str, *, prefix: str,
                     delimiter: str, key_marker: str, upload_id_marker: str, limit: int) -> UploadListing:
        """Uploads in progress ordered by key then initiation, after (key_marker, upload_id_marker)."""
        with self.db.read() as s:
            box = self._object_container(s, caller, project_id, bucket, write=False)
            after: tuple[str, float, str] | None = None
            if key_marker and upload_id_marker:
                marked = s.get(S3Upload, upload_id_marker)
                if marked is not None and marked.container_id == box.id and marked.name == key_marker:
                    after = (marked.name, marked.created_at, marked.id)
            query = (select(S3Upload.name, S3Upload.id, S3Upload.created_at)
                     .where(S3Upload.container_id == box.id, S3Upload.name >= max(prefix, key_marker))
                     .order_by(S3Upload.name, S3Upload.created_at, S3Upload.id))
            rows = s.execute(query).all()
        return _page_uploads(rows, prefix=prefix, delimiter=delimiter, key_marker=key_marker, after=after,
                             limit=limit)

    def list_parts(self: "ObjectStoreService", caller: Caller, project_id: str, bucket: str, key: str,
                   upload_id: str, *, marker: int, limit: int) -> PartListing:
        with self.db.read() as s:
            # Reading the parts is a read of the bucket, as listing the uploads is.
            self._upload(s, caller, project_id, bucket, key, upload_id, write=False)
            query = (select(S3Part).where(S3Part.upload_id == upload_id, S3Part.part_number > marker)
                     .order_by(S3Part.part_number).limit(limit + 1))
            parts = [PartRow(p.part_number, p.etag, p.size, p.created_at) for p in s.execute(query).scalars()]
        truncated = len(parts) > limit
        parts = parts[:limit]
        return PartListing(parts, truncated, parts[-1].part_number if parts else 0)

    def abort_upload(self: "ObjectStoreService", caller: Caller, project_id: str, bucket: str, key: str,
                     upload_id: str) -> None:
        with self.db.session() as s:
            self._upload(s, caller, project_id, bucket, key, upload_id)
            freed = self.drop_upload(s, upload_id)
        self.free_blobs(freed)

    def drop_upload(self: "ObjectStoreService", s: Session, upload_id: str, keep: set[str] | None = None) -> list[str]:
        """Delete an upload and its part rows; the part blobs not kept are queued to free."""
        blobs = s.execute(select(S3Part.blob_id).where(S3Part.upload_id == upload_id)).scalars().all()
        s.execute(delete(S3Part).where(S3Part.upload_id == upload_id))
        s.execute(delete(S3Upload).where(S3Upload.id == upload_id))
        freed: list[str] = []
        for blob_id in blobs:
            if keep is None or blob_id not in keep:
                freed += self.queue_garbage(s, blob_id)
        return freed

    def drop_uploads_of(self: "ObjectStoreService", s: Session, container_id: str) -> list[str]:
        freed: list[str] = []
        for upload_id in s.execute(select(S3Upload.id).where(S3Upload.container_id == container_id)).scalars().all():
            freed += self.drop_upload(s, upload_id)
        return freed

    def part_count_ok(self, number: str) -> int:
        try:
            return int(number)
        except ValueError:
            raise BadRequest("Part number must be an integer") from None


def _page_uploads(rows: list[tuple[str, str, float]], *, prefix: str, delimiter: str, key_marker: str,
                  after: tuple[str, float, str] | None, limit: int) -> UploadListing:
    uploads: list[UploadRow] = []
    prefixes: list[str] = []
    last_key, last_id, truncated = "", "", False
    for name, upload_id, created_at in rows:
        if not name.startswith(prefix):
            if name > prefix:
                break
            continue
        if after is not None:
            if (name, created_at, upload_id) <= after:
                continue
        elif key_marker and name <= key_marker:
            continue
        common = _common_prefix(name, prefix, delimiter)
        if common is not None and (common == last_key or (key_marker and common <= key_marker)):
            continue
        if len(uploads) + len(prefixes) >= limit:
            truncated = True
            break
        if common is not None:
            prefixes.append(common)
            last_key, last_id = common, ""
        else:
            uploads.append(UploadRow(name, upload_id, created_at))
            last_key, last_id = name, upload_id
    return UploadListing(uploads, prefixes, truncated, last_key, last_id)


def _common_prefix(name: str, prefix: str, delimiter: str) -> str | None:
    if not delimiter:
        return None
    at = name.find(delimiter, len(prefix))
    return None if at < 0 else name[:at + len(delimiter)]


__all__ = ["MultipartMethods", "NotFound", "PartListing", "PartPlan", "PartRow", "UploadListing", "UploadRow",
           "s3_error"]
