"""The object storage service: accounts, containers, objects, over rows and blob files.

Service methods take the Caller (who, from where, with which TempURL) and parsed
input; they authorize inside their own transaction (access.py), and every change
to an object changes its container's and account's counters in that same
transaction. Blob files are written before the transaction that names them and
unlinked after the one that drops them; a crash between leaves an orphan the
start-up sweep removes (temp files by holder token, freed blobs from
os_blob_garbage), never a row without its bytes.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from gureum.db.base import new_id
from gureum.http.errors import NotFound
from gureum.image.holders import holder_alive, process_token
from gureum.objectstore import bulk
from gureum.objectstore.access import Caller, acl_allows_read, acl_allows_write
from gureum.objectstore.accounts import AccountMethods
from gureum.objectstore.containers import ContainerMethods
from gureum.objectstore.largeobjects import LargeObjectMethods
from gureum.objectstore.multipart import MultipartMethods
from gureum.objectstore.models import Account, BlobGarbage, Container, StoredObject
from gureum.objectstore.objects import ObjectMethods
from gureum.objectstore.store import BlobStore
from gureum.objectstore.tempurl import TempUrlMethods

if TYPE_CHECKING:
    from gureum.cloud import Cloud

log = logging.getLogger(__name__)

EXPIRY_SWEEP_SECONDS = 30.0
NOT_FOUND = "The resource could not be found."


class ObjectStoreService(AccountMethods, ContainerMethods, ObjectMethods, LargeObjectMethods, TempUrlMethods,
                         MultipartMethods):
    def __init__(self, cloud: "Cloud") -> None:
        self.cloud = cloud
        self.db = cloud.db
        self.store = BlobStore(cloud.settings.state_dir / "objects")
        self.holder = process_token()
        self._stop = threading.Event()

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        self.store.ensure_dirs()
        removed = self.store.sweep_temp(holder_alive)
        if removed:
            log.info("removed %d abandoned object upload(s)", removed)
        self.collect_garbage()
        threading.Thread(target=self._housekeeping, name="objectstore-expirer", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _housekeeping(self) -> None:
        while not self._stop.wait(EXPIRY_SWEEP_SECONDS):
            try:
                self.expire_objects()
                self.collect_garbage()
            except Exception:  # noqa: BLE001 - housekeeping retries on its next round
                log.exception("object storage housekeeping failed")

    def collect_garbage(self) -> int:
        """Unlink blobs whose rows are gone (a crash may have come between commit and unlink)."""
        with self.db.read() as s:
            blob_ids = s.execute(select(BlobGarbage.blob_id).limit(10000)).scalars().all()
        for blob_id in blob_ids:
            self.store.delete(blob_id)
        if blob_ids:
            with self.db.session() as s:
                s.execute(delete(BlobGarbage).where(BlobGarbage.blob_id.in_(blob_ids)))
        return len(blob_ids)

    def expire_objects(self, now: float | None = None) -> int:
        """Delete objects past their X-Delete-At (reads already treat them as gone)."""
        now = time.time() if now is None else now
        with self.db.read() as s:
            due = s.execute(select(StoredObject.container_id, StoredObject.name)
                            .where(StoredObject.delete_at.is_not(None), StoredObject.delete_at <= now)
                            .limit(1000)).all()
        freed: list[str] = []
        for container_id, name in due:
            with self.db.session() as s:
                row = s.get(StoredObject, (container_id, name))
                if row is not None and row.delete_at is not None and row.delete_at <= now:
                    container = self.lock_container_row(s, container_id)
                    freed += self.drop_object_row(s, container, row)
        self.free_blobs(freed)
        return len(due)

    # -- shared helpers for the method modules ---------------------------------------

    def lock_container_row(self, s: Session, container_id: str) -> Container:
        """The container row, locked for this transaction (counters and quotas are decided on it)."""
        row = s.execute(select(Container).where(Container.id == container_id).with_for_update()).scalar_one_or_none()
        if row is None:
            raise NotFound(NOT_FOUND)
        return row

    def find_container(self, s: Session, project_id: str, name: str, lock: bool = False) -> Container | None:
        stmt = select(Container).where(Container.project_id == project_id, Container.name == name)
        if lock:
            stmt = stmt.with_for_update()
        return s.execute(stmt).scalar_one_or_none()

    def ensure_account(self, s: Session, project_id: str) -> Account:
        account = s.get(Account, project_id)
        if account is None:
            account = Account(project_id=project_id, meta={}, container_count=0, object_count=0,
                              bytes_used=0, created_at=time.time())
            s.add(account)
            s.flush()
        return account

    def account_row(self, s: Session, project_id: str) -> Account | None:
        return s.get(Account, project_id)

    def live_object(self, s: Session, container: Container, name: str, now: float | None = None) -> StoredObject | None:
        row = s.get(StoredObject, (container.id, name))
        now = time.time() if now is None else now
        if row is None or (row.delete_at is not None and row.delete_at <= now):
            return None
        return row

    def count_change(self, s: Session, container: Container, objects: int, size: int) -> None:
        """Counters move with the rows, in the same transaction."""
        if objects == 0 and size == 0:
            return
        s.execute(update(Container).where(Container.id == container.id).values(
            object_count=Container.object_count + objects, bytes_used=Container.bytes_used + size))
        s.execute(update(Account).where(Account.project_id == container.project_id).values(
            object_count=Account.object_count + objects, bytes_used=Account.bytes_used + size))
        # (The ORM-enabled UPDATE also refreshes the rows this session holds.)

    def drop_object_row(self, s: Session, container: Container, row: StoredObject) -> list[str]:
        """Delete one object row; returns the blob to unlink after commit (queued as garbage)."""
        s.delete(row)
        s.flush()
        self.count_change(s, container, -1, -row.size)
        freed: list[str] = []
        for blob_id in self.blobs_of(row):
            freed += self.queue_garbage(s, blob_id)
        return freed

    @staticmethod
    def blobs_of(row: StoredObject) -> list[str]:
        """The blob files a row owns: its own, or its parts' (a completed S3 multipart upload)."""
        if row.kind == "parts":
            return [p["blob_id"] for p in row.manifest or []]
        return [row.blob_id] if row.blob_id else []

    def queue_garbage(self, s: Session, blob_id: str | None) -> list[str]:
        if not blob_id:
            return []
        s.merge(BlobGarbage(blob_id=blob_id, since=time.time()))
        return [blob_id]

    def free_blobs(self, blob_ids: list[str]) -> None:
        """After commit: unlink and forget (a reader that has a blob open keeps reading)."""
        if not blob_ids:
            return
        for blob_id in blob_ids:
            self.store.delete(blob_id)
        with self.db.session() as s:
            s.execute(delete(BlobGarbage).where(BlobGarbage.blob_id.in_(blob_ids)))

    def may_read(self, caller: Caller, container: Container, listing: bool = False) -> bool:
        return caller.reads(container.project_id) or acl_allows_read(
            container.read_acl, caller, container.project_id, listing)

    def may_write(self, caller: Caller, container: Container) -> bool:
        return caller.owns(container.project_id) or acl_allows_write(container.write_acl, caller, container.project_id)

    @staticmethod
    def new_container_id() -> str:
        return new_id()

    # -- bulk, CORS --------------------------------------------------------------------------

    def bulk_delete(self, caller: Caller, project_id: str, body: bytes) -> dict[str, Any]:
        if not caller.owns(project_id) and caller.ctx is None:
            raise caller.denied()
        return bulk.bulk_delete(self, caller, project_id, body)

    def begin_extract(self, caller: Caller, project_id: str, container: str) -> None:
        """Refuse a tar upload before its bytes arrive when the caller may not write here."""
        if caller.owns(project_id):
            return
        if container:
            with self.db.read() as s:
                box = self.find_container(s, project_id, container)
                if box is not None and self.may_write(caller, box):
                    return
        raise caller.denied()

    def extract_archive(self, caller: Caller, project_id: str, container: str, archive_path: str,
                        compression: str) -> dict[str, Any]:
        return bulk.extract_archive(self, caller, project_id, container, archive_path, compression)

    def container_cors(self, project_id: str, name: str) -> dict[str, Any] | None:
        """A container's CORS metadata, for a preflight (which carries no token)."""
        with self.db.read() as s:
            box = self.find_container(s, project_id, name)
            return dict(box.meta) if box is not None else None

