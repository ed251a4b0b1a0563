"""Moving object bytes between a client and blob files without holding them.

The body goes a buffer at a time into a temp file (file I/O in worker threads),
the file is fsynced and renamed into place, and only then does finish_put commit
the row. Whatever goes wrong before that commit (the client leaves, a quota or
the declared length is passed, the ETag differs), the temp file or blob goes:
an aborted upload leaves no object and no stray file.
"""

from __future__ import annotations

import errno
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from typing import Any
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from gureum.http.errors import BadRequest, PayloadTooLarge
from gureum.objectstore.limits import MAX_FILE_SIZE
from gureum.objectstore.multipart import PartPlan
from gureum.objectstore.objects import QUOTA_EXCEEDED, ObjectRead, PutPlan, PutResult, Segment
from gureum.objectstore.store import IO_CHUNK_BYTES, BlobWriter, BlobStore, WrittenBlob

if TYPE_CHECKING:
    from gureum.objectstore.service import ObjectStoreService


class ShortBody(BadRequest):
    """Fewer bytes came than Content-Length said (Swift answers 499; a client that left sees nothing)."""


async def _fill(writer: BlobWriter, chunks: AsyncIterable[bytes], max_bytes: int, declared: int | None) -> None:
    buffer = bytearray()
    async for chunk in chunks:
        if not chunk:
            continue
        buffer += chunk
        if writer.size + len(buffer) > max_bytes:
            raise PayloadTooLarge(QUOTA_EXCEEDED if max_bytes < MAX_FILE_SIZE else "Your request is too large.")
        if len(buffer) >= IO_CHUNK_BYTES:
            data = bytes(buffer)
            buffer.clear()
            await anyio.to_thread.run_sync(writer.write, data)
    if buffer:
        await anyio.to_thread.run_sync(writer.write, bytes(buffer))
    if declared is not None and writer.size != declared:
        raise ShortBody(f"Received {writer.size} bytes of the {declared} that Content-Length announced.")


async def _commit_with(service: "ObjectStoreService", plan: Any, fill: object,
                       verify: Callable[[WrittenBlob], None] | None = None,
                       finish: Callable[[Any, WrittenBlob], Any] | None = None) -> Any:
    writer = await anyio.to_thread.run_sync(service.store.new_writer, service.holder)
    blob: WrittenBlob | None = None
    try:
        await fill(writer)  # type: ignore[operator]
        blob = await anyio.to_thread.run_sync(writer.finish)
        if verify is not None:
            verify(blob)
        await anyio.to_thread.run_sync(service.store.commit, blob)
        return await anyio.to_thread.run_sync(finish or service.finish_put, plan, blob)
    except OSError as exc:
        with anyio.CancelScope(shield=True):
            await _undo(service.store, writer, blob)
        if exc.errno == errno.ENOSPC:
            raise PayloadTooLarge("The object store's disk is full.") from exc
        raise
    except BaseException:
        with anyio.CancelScope(shield=True):
            await _undo(service.store, writer, blob)
        raise


async def _undo(store: BlobStore, writer: BlobWriter, blob: WrittenBlob | None) -> None:
    if blob is None:
        await anyio.to_thread.run_sync(writer.abort)
    else:
        await anyio.to_thread.run_sync(store.discard, blob)


async def receive_object(service: "ObjectStoreService", plan: PutPlan, chunks: AsyncIterable[bytes],
                         declared_size: int | None, verify: Callable[[WrittenBlob], None] | None = None) -> PutResult:
    async def fill(writer: BlobWriter) -> None:
        await _fill(writer, chunks, plan.max_bytes, declared_size)

    return await _commit_with(service, plan, fill, verify)


async def receive_part(service: "ObjectStoreService", plan: PartPlan, chunks: AsyncIterable[bytes],
                       declared_size: int | None, verify: Callable[[WrittenBlob], None] | None = None) -> str:
    """An S3 part: the same streaming, committed as a part row instead of an object."""
    async def fill(writer: BlobWriter) -> None:
        await _fill(writer, chunks, plan.max_bytes, declared_size)

    return await _commit_with(service, plan, fill, verify, service.finish_part)


async def copy_object(service: "ObjectStoreService", source: ObjectRead, plan: PutPlan) -> PutResult:
    """Server-side copy: the source's blobs (every segment, for a large object) into a new blob."""

    def copy(writer: BlobWriter) -> None:
        for chunk in read_segments(service.store, source.segments, 0, source.size):
            writer.write(chunk)

    async def fill(writer: BlobWriter) -> None:
        await anyio.to_thread.run_sync(copy, writer)

    return await _commit_with(service, plan, fill)


def read_segments(store: BlobStore, segments: list[Segment], first: int, length: int) -> Iterator[bytes]:
    """Blocking chunks of bytes [first, first+length) of the object the segments make up."""
    position = 0
    for seg in segments:
        seg_end = position + seg.length
        if seg_end <= first:
            position = seg_end
            continue
        if position >= first + length:
            return
        start = max(first, position) - position
        stop = min(first + length, seg_end) - position
        yield from store.read_range(seg.blob_id, seg.offset + start, stop - start)
        position = seg_end


async def stream(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Blocking chunks handed out one by one, read in worker threads as the client takes them."""
    try:
        while True:
            chunk = await anyio.to_thread.run_sync(next, chunks, None)
            if chunk is None:
                return
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            await anyio.to_thread.run_sync(close)
