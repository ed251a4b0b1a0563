"""Container methods: create, POST metadata and ACLs, HEAD, the object listing, delete."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from gureum.http.errors import BadRequest, Conflict, NotFound
from gureum.objectstore.access import Caller
from gureum.objectstore.limits import STORAGE_POLICIES, check_container_name
from gureum.objectstore.listing import ListingQuery, keyset_list
from gureum.objectstore.metadata import merged_meta
from gureum.objectstore.models import Account, Container, StoredObject

if TYPE_CHECKING:
    from gureum.objectstore.service import ObjectStoreService

NOT_FOUND = "The resource could not be found."
CONFLICT = "There was a conflict when trying to complete your request."
QUOTA_META = ("quota-bytes", "quota-count")


def _acl_value(headers: Mapping[str, str], which: str, current: str | None) -> str | None:
    if f"x-remove-container-{which}" in headers:
        return None
    if f"x-container-{which}" in headers:
        value = headers[f"x-container-{which}"].strip()
        return value or None
    return current


def _check_quota_meta(meta: Mapping[str, str]) -> None:
    for key in QUOTA_META:
        if key in meta and not meta[key].isdigit():
            raise BadRequest(f"Invalid {key.replace('-', ' ')} quota: {meta[key]!r} is not a whole number.")


class ContainerMethods:
    def _apply_container_headers(self: "ObjectStoreService", caller: Caller, row: Container,
                                 headers: Mapping[str, str]) -> None:
        meta = merged_meta(row.meta, headers, "container")
        _check_quota_meta(meta)
        row.meta = meta
        row.read_acl = _acl_value(headers, "read", row.read_acl)
        row.write_acl = _acl_value(headers, "write", row.write_acl)
        if "x-remove-versions-location" in headers:
            row.versions_location = None
        elif "x-versions-location" in headers:
            location = headers["x-versions-location"].strip()
            if location:
                check_container_name(location)
            row.versions_location = location or None
        row.updated_at = time.time()

    def create_container(self: "ObjectStoreService", caller: Caller, project_id: str, name: str,
                         headers: Mapping[str, str]) -> bool:
        """PUT: True when made (201), False when it was there (202, metadata merged)."""
        check_container_name(name)
        if not caller.owns(project_id):
            raise caller.denied()
        policy = headers.get("x-storage-policy")
        if policy is not None and policy not in STORAGE_POLICIES:
            raise BadRequest(f"Invalid X-Storage-Policy {policy!r}")
        for attempt in range(2):
            try:
                with self.db.session() as s:
                    row = self.find_container(s, project_id, name, lock=True)
                    if row is not None:
                        if policy is not None and policy != row.storage_policy:
                            raise Conflict(CONFLICT)
                        self._apply_container_headers(caller, row, headers)
                        return False
                    self.ensure_account(s, project_id)
                    now = time.time()
                    row = Container(id=self.new_container_id(), project_id=project_id, name=name, meta={},
                                    storage_policy=policy or STORAGE_POLICIES[0], object_count=0, bytes_used=0,
                                    created_at=now, updated_at=now)
                    self._apply_container_headers(caller, row, headers)
                    s.add(row)
                    s.flush()
                    s.execute(update(Account).where(Account.project_id == project_id)
                              .values(container_count=Account.container_count + 1))
                    return True
            except IntegrityError:
                # Two first PUTs raced (PostgreSQL); the second now finds the row.
                if attempt:
                    raise
        return False

    def update_container(self: "ObjectStoreService", caller: Caller, project_id: str, name: str,
                         headers: Mapping[str, str]) -> None:
        if not caller.owns(project_id):
            raise caller.denied()
        with self.db.session() as s:
            row = self.find_container(s, project_id, name, lock=True)
            if row is None:
                raise NotFound(NOT_FOUND, kind="NoSuchBucket")
            self._apply_container_headers(caller, row, headers)

    def delete_container(self: "ObjectStoreService", caller: Caller, project_id: str, name: str) -> None:
        if not caller.owns(project_id):
            raise caller.denied()
        with self.db.session() as s:
            row = self.find_container(s, project_id, name, lock=True)
            if row is None:
                raise NotFound(NOT_FOUND, kind="NoSuchBucket")
            freed = self._purge_expired(s, row)
            if row.object_count > 0 or s.execute(
                    select(StoredObject.name).where(StoredObject.container_id == row.id).limit(1)).first():
                raise Conflict(CONFLICT, kind="BucketNotEmpty")
            freed += self.drop_uploads_of(s, row.id)
            s.delete(row)
            s.flush()
            s.execute(update(Account).where(Account.project_id == project_id)
                      .values(container_count=Account.container_count - 1))
        self.free_blobs(freed)

    def _purge_expired(self: "ObjectStoreService", s: Any, row: Container) -> list[str]:
        """Objects past X-Delete-At are gone for every read; a container delete must agree."""
        now = time.time()
        expired = s.execute(select(StoredObject).where(
            StoredObject.container_id == row.id, StoredObject.delete_at.is_not(None),
            StoredObject.delete_at <= now).limit(10001)).scalars().all()
        freed: list[str] = []
        for item in expired:
            freed += self.drop_object_row(s, row, item)
        return freed

    def _readable_container(self: "ObjectStoreService", s: Any, caller: Caller, project_id: str, name: str,
                            listing: bool) -> Container:
        row = self.find_container(s, project_id, name)
        if row is None:
            if caller.reads(project_id):
                raise NotFound(NOT_FOUND, kind="NoSuchBucket")
            raise caller.denied()
        if not self.may_read(caller, row, listing=listing):
            raise caller.denied()
        return row

    def show_container(self: "ObjectStoreService", caller: Caller, project_id: str, name: str) -> tuple[Container, bool]:
        """The row, and whether the caller may see its ACLs (owners only)."""
        with self.db.read() as s:
            row = self._readable_container(s, caller, project_id, name, listing=True)
            return row, caller.owns(project_id)

    def list_objects(self: "ObjectStoreService", caller: Caller, project_id: str, name: str,
                     query: ListingQuery) -> tuple[Container, bool, list[Any]]:
        now = time.time()
        with self.db.read() as s:
            row = self._readable_container(s, caller, project_id, name, listing=True)
            base = select(StoredObject).where(
                StoredObject.container_id == row.id,
                or_(StoredObject.delete_at.is_(None), StoredObject.delete_at > now))
            return row, caller.owns(project_id), keyset_list(s, base, StoredObject.name, query)

