"""Object bytes as files under the state dir.

  objects/data/<id[:2]>/<id>     one object's (or one S3 part's) bytes, a random id
  objects/tmp/<holder>+<n>.part  an upload in progress

An upload streams into a temp file while MD5 (the ETag) is computed, is fsynced,
then renamed into data/ and the directory fsynced; only then does a row name it.
Random ids, not content addresses: every ETag needs MD5 anyway, and a delete must
free its space at once without reference counts. Temp names start with the writing
process's holder token, so a restarted controller knows which leftovers are orphans.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

IO_CHUNK_BYTES = 1024 * 1024
TEMP_SUFFIX = ".part"


class StoreError(Exception):
    """The store could not take or give the bytes (a missing file, a short write)."""


@dataclass
class WrittenBlob:
    path: Path
    blob_id: str
    size: int
    md5: str
    crc32: int


class BlobWriter:
    """One stream into a temp file, hashing as the bytes pass."""

    def __init__(self, path: Path, blob_id: str) -> None:
        self.path = path
        self.blob_id = blob_id
        self.size = 0
        self._file: BinaryIO = open(path, "xb")  # noqa: SIM115 - closed in finish/abort
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._crc32 = 0

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._md5.update(data)
        self._crc32 = zlib.crc32(data, self._crc32)
        self.size += len(data)

    def finish(self) -> WrittenBlob:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return WrittenBlob(self.path, self.blob_id, self.size, self._md5.hexdigest(), self._crc32)

    def abort(self) -> None:
        try:
            self._file.close()
        finally:
            self.path.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.tmp_dir = root / "tmp"

    def ensure_dirs(self) -> None:
        for path in (self.root, self.data_dir, self.tmp_dir):
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, 0o700)

    def new_writer(self, holder: str) -> BlobWriter:
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        blob_id = uuid.uuid4().hex
        return BlobWriter(self.tmp_dir / f"{holder}+{blob_id}{TEMP_SUFFIX}", blob_id)

    def path_of(self, blob_id: str) -> Path:
        if len(blob_id) != 32 or not all(c in "0123456789abcdef" for c in blob_id):
            raise StoreError(f"not a blob id: {blob_id!r}")
        return self.data_dir / blob_id[:2] / blob_id

    def commit(self, blob: WrittenBlob) -> None:
        """Move a finished temp file into place; a row may name it after this returns."""
        target = self.path_of(blob.blob_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(blob.path, target)
        _fsync_dir(target.parent)

    def discard(self, blob: WrittenBlob) -> None:
        blob.path.unlink(missing_ok=True)
        self.delete(blob.blob_id)

    def delete(self, blob_id: str) -> None:
        self.path_of(blob_id).unlink(missing_ok=True)

    def exists(self, blob_id: str) -> bool:
        return self.path_of(blob_id).exists()

    def read_range(self, blob_id: str, offset: int, length: int) -> Iterator[bytes]:
        """Blocking chunks of [offset, offset+length); an open reader survives a delete."""
        try:
            f = open(self.path_of(blob_id), "rb")  # noqa: SIM115 - closed by the generator
        except FileNotFoundError as exc:
            raise StoreError(f"object data {blob_id} is missing from the store") from exc
        return _read_chunks(f, offset, length)

    def sweep_temp(self, holder_alive: Callable[[str], bool]) -> int:
        """Remove temp files whose writer is gone; returns how many."""
        removed = 0
        if not self.tmp_dir.exists():
            return 0
        for path in self.tmp_dir.iterdir():
            holder = path.name.rsplit("+", 1)[0] if "+" in path.name else ""
            if holder and holder_alive(holder):
                continue
            path.unlink(missing_ok=True)
            removed += 1
        return removed

    def blob_ids(self, older_than_seconds: float) -> Iterator[str]:
        """Blob files not touched for a while (candidates for the orphan sweep)."""
        if not self.data_dir.exists():
            return
        cutoff = time.time() - older_than_seconds
        for shard in self.data_dir.iterdir():
            if shard.is_dir():
                for path in shard.iterdir():
                    if path.stat().st_mtime < cutoff:
                        yield path.name


def _read_chunks(f: BinaryIO, offset: int, length: int) -> Iterator[bytes]:
    with f:
        f.seek(offset)
        remaining = length
        while remaining > 0:
            data = f.read(min(IO_CHUNK_BYTES, remaining))
            if not data:
                raise StoreError("object data is shorter than its row says")
            remaining -= len(data)
            yield data
