"""aws-chunked request bodies, signed (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]) or
unsigned with trailers (STREAMING-UNSIGNED-PAYLOAD-TRAILER, what botocore >= 1.36 sends
for streaming bodies): `<hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n` ... a zero
chunk, then trailer lines such as `x-amz-checksum-crc32:<base64>` and a blank line.

Chunk signatures chain from the request's seed signature; trailers are handed back
so the caller checks the CRC32 against what it wrote.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterable, AsyncIterator, Callable

from gureum.objectstore.s3.sigv4 import SignatureProblem

MAX_CHUNK_HEADER = 4096


class ChunkedDecoder:
    def __init__(self, sign_chunk: Callable[[str, str], str] | None = None, seed_signature: str = "") -> None:
        # sign_chunk(previous signature, sha256 of the chunk) -> expected signature; None when unsigned.
        self.sign_chunk = sign_chunk
        self.previous = seed_signature
        self.trailers: dict[str, str] = {}

    async def decode(self, body: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        buffer = bytearray()
        stream = body.__aiter__()

        async def more() -> bool:
            try:
                chunk = await stream.__anext__()
            except StopAsyncIteration:
                return False
            buffer.extend(chunk)
            return True

        async def line() -> bytes:
            while b"\r\n" not in buffer:
                if len(buffer) > MAX_CHUNK_HEADER or not await more():
                    raise SignatureProblem("IncompleteBody", "The aws-chunked body ended inside a chunk header.")
            end = buffer.index(b"\r\n")
            text = bytes(buffer[:end])
            del buffer[: end + 2]
            return text

        while True:
            header = (await line()).decode("latin-1")
            size_text, _, extension = header.partition(";")
            try:
                size = int(size_text.strip(), 16)
            except ValueError:
                raise SignatureProblem("InvalidArgument", "Malformed aws-chunked chunk size.") from None
            signature = extension.partition("chunk-signature=")[2].strip()
            digest = hashlib.sha256()
            remaining = size
            while remaining:
                if not buffer and not await more():
                    raise SignatureProblem("IncompleteBody", "The aws-chunked body ended inside a chunk.")
                piece = bytes(buffer[:remaining])
                del buffer[: len(piece)]
                remaining -= len(piece)
                digest.update(piece)
                yield piece
            if self.sign_chunk is not None:
                expected = self.sign_chunk(self.previous, digest.hexdigest())
                if not hmac.compare_digest(expected, signature):
                    raise SignatureProblem("SignatureDoesNotMatch", "A chunk signature does not match.")
                self.previous = expected
            if size == 0:
                break
            if await line() != b"":
                raise SignatureProblem("InvalidArgument", "Malformed aws-chunked body: no CRLF after a chunk.")
        while True:
            trailer = (await line()).decode("latin-1")
            if not trailer:
                return
            key, _, value = trailer.partition(":")
            if key.strip().lower() == "x-amz-trailer-signature":
                continue
            self.trailers[key.strip().lower()] = value.strip()
