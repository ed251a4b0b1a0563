"""Static large objects (a manifest of segments checked at PUT) and legacy versioning.

An SLO manifest is validated when it is PUT: every segment must exist, be readable
by the uploader, be at least a byte, and match the size and ETag the manifest
gives. Its ETag is the quoted MD5 of the segment ETags. A GET resolves the segments
in one query per segment container and streams their blobs in order.

Legacy versioning (X-Versions-Location): an overwritten object's row moves to the
versions container as `<len:03x><name>/<timestamp>`; a DELETE brings the newest
one back. Rows move, bytes do not.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gureum.http.errors import BadRequest, Conflict, NotFound
from gureum.objectstore.access import Caller
from gureum.objectstore.limits import MAX_MANIFEST_SEGMENTS, MAX_MANIFEST_SIZE
from gureum.objectstore.listing import ListingQuery, keyset_list
from gureum.objectstore.models import Container, StoredObject

if TYPE_CHECKING:
    from gureum.objectstore.objects import PutResult, Segment
    from gureum.objectstore.service import ObjectStoreService

NOT_FOUND = "The resource could not be found."


def listing_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def split_segment_path(path: Any) -> tuple[str, str]:
    if not isinstance(path, str):
        raise BadRequest("Invalid SLO manifest: each segment needs a 'path' string.")
    container, _, name = path.lstrip("/").partition("/")
    if not container or not name:
        raise BadRequest(f"Invalid SLO manifest: path {path!r} is not /container/object.")
    return container, name


def _parse_manifest(body: bytes) -> list[dict[str, Any]]:
    if len(body) > MAX_MANIFEST_SIZE:
        raise BadRequest(f"Manifest is larger than {MAX_MANIFEST_SIZE} bytes.")
    try:
        items = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("Manifest must be valid JSON.") from None
    if not isinstance(items, list) or not items:
        raise BadRequest("Manifest must be a non-empty JSON list.")
    if len(items) > MAX_MANIFEST_SEGMENTS:
        raise BadRequest(f"Too many segments in the manifest; max {MAX_MANIFEST_SEGMENTS}.")
    for item in items:
        if not isinstance(item, dict):
            raise BadRequest("Each manifest item must be a JSON object.")
        unknown = set(item) - {"path", "etag", "size_bytes"}
        if unknown:
            raise BadRequest(f"Invalid SLO manifest: unsupported keys {sorted(unknown)}.")
        split_segment_path(item.get("path"))
        if item.get("etag") is not None and not isinstance(item["etag"], str):
            raise BadRequest("Invalid SLO manifest: 'etag' must be a string.")
        size = item.get("size_bytes")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise BadRequest("Invalid SLO manifest: 'size_bytes' must be a whole number.")
    return items


class LargeObjectMethods:
    def _segment_rows(self: "ObjectStoreService", s: Session, project_id: str,
                      paths: list[tuple[str, str]]) -> tuple[dict[str, Container], dict[tuple[str, str], StoredObject]]:
        """Containers by name and live rows by (container, name): one query per container."""
        boxes: dict[str, Container] = {}
        rows: dict[tuple[str, str], StoredObject] = {}
        by_container: dict[str, set[str]] = {}
        for container, name in paths:
            by_container.setdefault(container, set()).add(name)
        found = s.execute(select(Container).where(Container.project_id == project_id,
                                                  Container.name.in_(list(by_container)))).scalars().all()
        now = time.time()
        for box in found:
            boxes[box.name] = box
            for row in s.execute(select(StoredObject).where(StoredObject.container_id == box.id,
                                                            StoredObject.name.in_(list(by_container[box.name])))).scalars():
                if row.delete_at is None or row.delete_at > now:
                    rows[(box.name, row.name)] = row
        return boxes, rows

    def put_slo_manifest(self: "ObjectStoreService", caller: Caller, project_id: str, container: str, name: str,
                         headers: Mapping[str, str], body: bytes) -> "PutResult":
        items = _parse_manifest(body)
        plan = self.begin_put(caller, project_id, container, name, headers, None)
        paths = [split_segment_path(item["path"]) for item in items]
        problems: list[str] = []
        stored: list[dict[str, Any]] = []
        with self.db.read() as s:
            boxes, rows = self._segment_rows(s, project_id, paths)
            for item, (seg_container, seg_name) in zip(items, paths, strict=True):
                label = f"/{seg_container}/{seg_name}"
                box = boxes.get(seg_container)
                if box is not None and not self.may_read(caller, box):
                    problems.append(f"{label}, 403 Forbidden")
                    continue
                row = rows.get((seg_container, seg_name))
                if row is None:
                    problems.append(f"{label}, 404 Not Found")
                    continue
                if row.kind != "plain":
                    problems.append(f"{label}, Nested large objects are not supported")
                    continue
                if row.size < 1:
                    problems.append(f"{label}, Too small; each segment must be at least 1 byte.")
                    continue
                if item.get("size_bytes") is not None and item["size_bytes"] != row.size:
                    problems.append(f"{label}, Size Mismatch")
                    continue
                if item.get("etag") and item["etag"].strip('"').lower() != row.etag:
                    problems.append(f"{label}, Etag Mismatch")
                    continue
                stored.append({"name": label, "bytes": row.size, "hash": row.etag,
                               "content_type": row.content_type, "last_modified": listing_time(row.timestamp)})
        if problems:
            raise BadRequest("Errors:\n" + "\n".join(problems))
        plan.kind = "slo"
        plan.manifest = stored
        plan.etag_override = hashlib.md5("".join(seg["hash"] for seg in stored).encode(),
                                         usedforsecurity=False).hexdigest()
        plan.headers["x-manifest-etag"] = hashlib.md5(json.dumps(stored).encode(), usedforsecurity=False).hexdigest()
        plan.headers.pop("x-object-manifest", None)
        return self.finish_put(plan, None)

    def slo_segments(self: "ObjectStoreService", s: Session, project_id: str, manifest: list[dict[str, Any]]) -> list["Segment"]:
        from gureum.objectstore.objects import Segment  # noqa: PLC0415 - objects imports this module's helpers

        paths = [split_segment_path(seg["name"]) for seg in manifest]
        _, rows = self._segment_rows(s, project_id, paths)
        segments = []
        for seg, path in zip(manifest, paths, strict=True):
            row = rows.get(path)
            if row is None or row.etag != seg["hash"] or row.blob_id is None:
                raise Conflict(f"A segment of this large object is missing or changed: {seg['name']}")
            segments.append(Segment(row.blob_id, 0, row.size))
        return segments

    @staticmethod
    def manifest_listing(manifest: list[dict[str, Any]]) -> bytes:
        return json.dumps(manifest).encode()

    def delete_slo(self: "ObjectStoreService", caller: Caller, project_id: str, container: str,
                   name: str) -> dict[str, Any]:
        """multipart-manifest=delete: the manifest and every segment it names, in one transaction."""
        freed: list[str] = []
        deleted = not_found = 0
        with self.db.session() as s:
            box = self._object_container(s, caller, project_id, container, write=True)
            row = self.live_object(s, box, name)
            if row is None:
                raise NotFound(NOT_FOUND)
            if row.kind != "slo":
                box = self.lock_container_row(s, box.id)
                freed += self.drop_object_row(s, box, row)
                deleted = 1
            else:
                paths = [split_segment_path(seg["name"]) for seg in row.manifest]
                boxes, rows = self._segment_rows(s, project_id, paths)
                for seg_box in boxes.values():
                    if not self.may_write(caller, seg_box):
                        raise caller.denied()
                box = self.lock_container_row(s, box.id)
                freed += self.drop_object_row(s, box, row)
                deleted = 1
                for path in dict.fromkeys(paths):
                    seg_row = rows.get(path)
                    if seg_row is None:
                        not_found += 1
                        continue
                    seg_box = self.lock_container_row(s, boxes[path[0]].id)
                    freed += self.drop_object_row(s, seg_box, seg_row)
                    deleted += 1
        self.free_blobs(freed)
        return {"Number Deleted": deleted, "Number Not Found": not_found, "Response Status": "200 OK",
                "Response Body": "", "Errors": []}

    # -- legacy versioning ------------------------------------------------------------------

    def _versions_box(self: "ObjectStoreService", s: Session, box: Container) -> Container | None:
        if not box.versions_location:
            return None
        found = self.find_container(s, box.project_id, box.versions_location)
        return self.lock_container_row(s, found.id) if found is not None else None

    def archive_version(self: "ObjectStoreService", s: Session, box: Container, row: StoredObject) -> None:
        """Move the current row into the versions container (its bytes stay where they are)."""
        vbox = self._versions_box(s, box)
        if vbox is None:
            freed = self.drop_object_row(s, box, row)
            self.free_blobs_later(s, freed)
            return
        archived = StoredObject(container_id=vbox.id, name=f"{len(row.name):03x}{row.name}/{row.timestamp:016.5f}",
                                blob_id=row.blob_id, size=row.size, etag=row.etag, content_type=row.content_type,
                                timestamp=row.timestamp, meta=dict(row.meta), headers=dict(row.headers),
                                delete_at=row.delete_at, kind=row.kind, manifest=row.manifest)
        s.delete(row)
        s.flush()
        self.count_change(s, box, -1, -row.size)
        s.add(archived)
        self.count_change(s, vbox, 1, row.size)

    def restore_version(self: "ObjectStoreService", s: Session, box: Container, name: str) -> bool:
        vbox = self._versions_box(s, box)
        if vbox is None:
            return False
        prefix = f"{len(name):03x}{name}/"
        newest = keyset_list(s, select(StoredObject).where(StoredObject.container_id == vbox.id),
                             StoredObject.name, ListingQuery(prefix=prefix, limit=1, reverse=True))
        if not newest:
            return False
        old = newest[0]
        restored = StoredObject(container_id=box.id, name=name, blob_id=old.blob_id, size=old.size, etag=old.etag,
                                content_type=old.content_type, timestamp=time.time(), meta=dict(old.meta),
                                headers=dict(old.headers), delete_at=old.delete_at, kind=old.kind,
                                manifest=old.manifest)
        s.delete(old)
        s.flush()
        self.count_change(s, vbox, -1, -old.size)
        s.add(restored)
        self.count_change(s, box, 1, old.size)
        return True

    def free_blobs_later(self: "ObjectStoreService", s: Session, blob_ids: list[str]) -> None:
        """Blobs queued in this transaction: the garbage sweep unlinks them after commit."""
        del s, blob_ids  # queue_garbage already wrote them to os_blob_garbage
