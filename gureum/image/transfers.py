"""Moving image bytes between a client stream and the store, without holding them.

The service claims the image, the stream is written a buffer at a time to a temp
file (file I/O in worker threads), and the service commits or undoes. Whatever goes
wrong on the way (the client leaves, a quota is hit, the bytes are not what they
claim) the temp file goes and the image is back in 'queued'.
"""

from __future__ import annotations

import errno
from collections.abc import AsyncIterable, AsyncIterator, Iterator

import anyio
import anyio.to_thread

from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest, PayloadTooLarge
from gureum.image.service import ImageService
from gureum.image.store import BlobWriter, StoreError, TransferTooLarge, receive_stream


async def receive_image_data(
    service: ImageService,
    ctx: RequestContext,
    image_id: str,
    kind: str,
    chunks: AsyncIterable[bytes],
    declared_size: int | None,
) -> None:
    """PUT .../file (kind 'upload') or PUT .../stage (kind 'stage')."""
    transfer = await anyio.to_thread.run_sync(service.begin_transfer, ctx, image_id, kind, declared_size)
    writer: BlobWriter | None = None
    try:
        writer = await anyio.to_thread.run_sync(service.store.new_writer, service.holder)
        try:
            await receive_stream(writer, chunks, max_bytes=transfer.max_bytes)
            blob = await anyio.to_thread.run_sync(writer.finish, declared_size)
        except TransferTooLarge as exc:
            raise await anyio.to_thread.run_sync(service.over_limit_error, transfer, exc.received) from exc
        except StoreError as exc:
            raise BadRequest(f"Image data was not accepted: {exc}.") from exc
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise PayloadTooLarge(f"Image storage media is full: {exc}") from exc
            raise
        finish = service.finish_upload if kind == "upload" else service.finish_stage
        await anyio.to_thread.run_sync(finish, transfer, blob)
    except BaseException:
        with anyio.CancelScope(shield=True):
            if writer is not None:
                await anyio.to_thread.run_sync(writer.abort)
            await anyio.to_thread.run_sync(service.abort_transfer, transfer)
        raise


async def stream_image_data(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
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

