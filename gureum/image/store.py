"""The image store: content-addressed files on the local filesystem.

Layout under the store directory:
  data/<k[:2]>/<k>   image data, named by the SHA-512 of its content (`k`); images
                     with the same bytes share one file
  staging/<image id> data staged for a glance-direct import
  tmp/<holder>+<n>.part  transfers in progress

Data is written to a temp file while it is hashed (MD5 for glance's `checksum`,
SHA-512 for `os_hash_value`) and sniffed (formats.Sniffer), then fsynced, checked
and renamed into place in one step: a file under data/ or staging/ is always whole.
Temp names start with the writing process's holder token, so a restarted
controller knows which leftovers belong to nobody.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import anyio.to_thread

from gureum.image.formats import Sniffer

log = logging.getLogger(__name__)

# Big enough to keep thread hops and syscalls rare, small enough to keep memory flat.
IO_CHUNK_BYTES = 1024 * 1024
HASH_ALGO = "sha512"
TEMP_SUFFIX = ".part"


class StoreError(Exception):
    """The store could not take or give the data (disk full, missing file, ...)."""


class TransferTooLarge(Exception):
    """More bytes arrived than the caller allowed (a quota or a declared size)."""

    def __init__(self, received: int, allowed: int) -> None:
        super().__init__(f"received {received} bytes, allowed {allowed}")
        self.received = received
        self.allowed = allowed


@dataclass
class WrittenBlob:
    """A complete, synced temp file and what we learnt while writing it."""

    path: Path
    size: int
    md5: str
    sha512: str
    sniffed: Sniffer

    @property
    def key(self) -> str:
        return self.sha512


class BlobWriter:
    """Writes one stream to a temp file, hashing and sniffing as the bytes pass."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = 0
        self._file: BinaryIO = open(path, "xb")  # noqa: SIM115 - closed in finish/abort
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha512 = hashlib.sha512()
        self.sniffed = Sniffer()

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._md5.update(data)
        self._sha512.update(data)
        self.sniffed.feed(data)
        self.size += len(data)

    def finish(self, expected_size: int | None = None) -> WrittenBlob:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        on_disk = self.path.stat().st_size
        if on_disk != self.size:
            raise StoreError(f"wrote {self.size} bytes but {on_disk} reached the disk")
        if expected_size is not None and expected_size != self.size:
            raise StoreError(f"expected {expected_size} bytes of image data, received {self.size}")
        return WrittenBlob(self.path, self.size, self._md5.hexdigest(), self._sha512.hexdigest(), self.sniffed)

    def abort(self) -> None:
        try:
            self._file.close()
        finally:
            self.path.unlink(missing_ok=True)


async def receive_stream(
    writer: BlobWriter, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None
) -> None:
    """Feed an async byte stream to `writer`, a buffer at a time, file I/O off the event loop."""
    buffer = bytearray()
    async for chunk in chunks:
        if not chunk:
            continue
        buffer += chunk
        if max_bytes is not None and writer.size + len(buffer) > max_bytes:
            raise TransferTooLarge(writer.size + len(buffer), max_bytes)
        if len(buffer) >= IO_CHUNK_BYTES:
            data = bytes(buffer)
            buffer.clear()
            await anyio.to_thread.run_sync(writer.write, data)
    if buffer:
        await anyio.to_thread.run_sync(writer.write, bytes(buffer))


def copy_into(writer: BlobWriter, source: Iterator[bytes], *, max_bytes: int | None = None) -> None:
    """The blocking twin of receive_stream, for background imports."""
    for chunk in source:
        if max_bytes is not None and writer.size + len(chunk) > max_bytes:
            raise TransferTooLarge(writer.size + len(chunk), max_bytes)
        writer.write(chunk)


def hash_file(path: Path, sniffed: Sniffer) -> WrittenBlob:
    """Describe a file already whole on disk (staged data) as if it had just been written."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha512 = hashlib.sha512()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(IO_CHUNK_BYTES):
            md5.update(chunk)
            sha512.update(chunk)
            size += len(chunk)
    return WrittenBlob(path, size, md5.hexdigest(), sha512.hexdigest(), sniffed)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ImageStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.staging_dir = root / "staging"
        self.tmp_dir = root / "tmp"

    def ensure_dirs(self) -> None:
        for path in (self.root, self.data_dir, self.staging_dir, self.tmp_dir):
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, 0o700)

    # -- writing ---------------------------------------------------------------

    def new_writer(self, holder: str) -> BlobWriter:
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        return BlobWriter(self.tmp_dir / f"{holder}+{uuid.uuid4().hex}{TEMP_SUFFIX}")

    def data_path(self, key: str) -> Path:
        if not key or "/" in key or key.startswith("."):
            raise StoreError(f"not a store key: {key!r}")
        return self.data_dir / key[:2] / key

    def commit(self, blob: WrittenBlob) -> str:
        """Move a finished temp file into the content-addressed data area; returns its key."""
        target = self.data_path(blob.key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and target.stat().st_size == blob.size:
            # Same bytes already stored (another image has them): keep one copy.
            blob.path.unlink(missing_ok=True)
            os.utime(target)  # fresh mtime: the orphan sweep must not take it mid-commit
            return blob.key
        os.replace(blob.path, target)
        _fsync_dir(target.parent)
        return blob.key

    def discard(self, blob: WrittenBlob) -> None:
        blob.path.unlink(missing_ok=True)

    def delete_data(self, key: str) -> None:
        self.data_path(key).unlink(missing_ok=True)

    # -- staging (glance-direct) -------------------------------------------------

    def staged_path(self, image_id: str) -> Path:
        if "/" in image_id or image_id.startswith("."):
            raise StoreError(f"not an image id: {image_id!r}")
        return self.staging_dir / image_id

    def stage(self, blob: WrittenBlob, image_id: str) -> Path:
        target = self.staged_path(image_id)
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        os.replace(blob.path, target)
        _fsync_dir(self.staging_dir)
        return target

    def unstage(self, image_id: str) -> None:
        self.staged_path(image_id).unlink(missing_ok=True)

    # -- reading -----------------------------------------------------------------

    def read_range(self, key: str, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        """Blocking chunks of [offset, offset+length) of the stored data."""
        path = self.data_path(key)
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by the generator
        except FileNotFoundError as exc:
            raise StoreError(f"image data {key[:16]}... is missing from the store") from exc
        return _read_chunks(f, offset, length)

    # -- housekeeping --------------------------------------------------------------

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

    def stored_keys(self, older_than_seconds: float) -> Iterator[str]:
        """Keys of data files not touched for a while (candidates for the orphan sweep)."""
        if not self.data_dir.exists():
            return
        cutoff = time.time() - older_than_seconds
        for shard in self.data_dir.iterdir():
            if not shard.is_dir():
                continue
            for path in shard.iterdir():
                if path.stat().st_mtime < cutoff:
                    yield path.name

    def staged_ids(self) -> list[str]:
        if not self.staging_dir.exists():
            return []
        return [p.name for p in self.staging_dir.iterdir()]


def _read_chunks(f: BinaryIO, offset: int, length: int | None) -> Iterator[bytes]:
    with f:
        f.seek(offset)
        remaining = length
        while remaining is None or remaining > 0:
            want = IO_CHUNK_BYTES if remaining is None else min(IO_CHUNK_BYTES, remaining)
            data = f.read(want)
            if not data:
                return
            if remaining is not None:
                remaining -= len(data)
            yield data
