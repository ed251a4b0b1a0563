"""Range requests as Swift answers them: one range 206, several multipart/byteranges, none 416."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from gureum.http.errors import RangeNotSatisfiable

MAX_RANGES = 50


def parse_ranges(header: str, size: int) -> list[tuple[int, int]] | None:
    """Inclusive (first, last) pairs; None when the header is not a byte range (ignored, 200)."""
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or not spec:
        return None
    ranges: list[tuple[int, int]] = []
    for part in spec.split(","):
        part = part.strip()
        first_text, dash, last_text = part.partition("-")
        if not dash or not (first_text.strip().isdigit() or first_text.strip() == "") or \
                not (last_text.strip().isdigit() or last_text.strip() == ""):
            return None  # a malformed Range is ignored, as RFC 7233 and Swift do
        first_text, last_text = first_text.strip(), last_text.strip()
        if not first_text and not last_text:
            return None
        if not first_text:
            suffix = int(last_text)
            if suffix == 0:
                continue
            ranges.append((max(0, size - suffix), size - 1))
            continue
        first = int(first_text)
        last = int(last_text) if last_text else size - 1
        if last < first:
            return None
        if first >= size:
            continue
        ranges.append((first, min(last, size - 1)))
    if not ranges or size == 0:
        raise RangeNotSatisfiable("Requested Range Not Satisfiable", headers={"Content-Range": f"bytes */{size}"})
    if len(ranges) > MAX_RANGES:
        return None
    return ranges


def byteranges_body(ranges: list[tuple[int, int]], size: int, content_type: str, boundary: str,
                    read: Callable[[int, int], Iterator[bytes]]) -> tuple[Iterator[bytes], int]:
    """The multipart/byteranges body (streamed) and its exact length."""
    heads = [(f"--{boundary}\r\nContent-Type: {content_type}\r\nContent-Range: bytes {first}-{last}/{size}\r\n\r\n"
              ).encode() for first, last in ranges]
    tail = f"\r\n--{boundary}--".encode()
    length = sum(len(h) for h in heads) + sum(last - first + 1 for first, last in ranges) + \
        2 * (len(ranges) - 1) + len(tail)

    def parts() -> Iterator[bytes]:
        for index, ((first, last), head) in enumerate(zip(ranges, heads, strict=True)):
            yield (b"\r\n" if index else b"") + head
            yield from read(first, last - first + 1)
        yield tail

    return parts(), length
