"""The content-addressed store: whole files or none, hashes while streaming."""

from __future__ import annotations

import hashlib
from pathlib import Path

import anyio
import pytest

from gureum.image.store import ImageStore, StoreError, TransferTooLarge, receive_stream


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    store = ImageStore(tmp_path / "images")
    store.ensure_dirs()
    return store


async def _chunks(data: bytes, size: int) -> object:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _receive(store: ImageStore, data: bytes, max_bytes: int | None = None) -> object:
    writer = store.new_writer("host:1:1")

    async def run() -> None:
        await receive_stream(writer, _chunks(data, 65536), max_bytes=max_bytes)

    anyio.run(run)
    return writer


def test_hashes_and_commit(store: ImageStore) -> None:
    data = b"gureum" * 500_000
    blob = _receive(store, data).finish(len(data))  # type: ignore[attr-defined]
    assert blob.md5 == hashlib.md5(data).hexdigest()
    assert blob.sha512 == hashlib.sha512(data).hexdigest()
    key = store.commit(blob)
    assert store.data_path(key).read_bytes() == data
    assert list(store.tmp_dir.iterdir()) == []
    assert b"".join(store.read_range(key, 6, 12)) == b"gureumgureum"


def test_same_bytes_are_stored_once(store: ImageStore) -> None:
    first = store.commit(_receive(store, b"same").finish())  # type: ignore[attr-defined]
    second = store.commit(_receive(store, b"same").finish())  # type: ignore[attr-defined]
    assert first == second
    assert len(list(store.data_dir.rglob("*"))) == 2  # one shard dir, one file
    assert list(store.tmp_dir.iterdir()) == []


def test_over_the_cap_raises_before_writing_past_it(store: ImageStore) -> None:
    writer = store.new_writer("host:1:1")

    async def run() -> None:
        await receive_stream(writer, _chunks(b"x" * 3_000_000, 65536), max_bytes=1_000_000)

    with pytest.raises(TransferTooLarge):
        anyio.run(run)
    assert writer.size <= 1_000_000
    writer.abort()
    assert list(store.tmp_dir.iterdir()) == []


def test_short_stream_is_not_whole(store: ImageStore) -> None:
    writer = _receive(store, b"abc")
    with pytest.raises(StoreError, match="expected 10 bytes"):
        writer.finish(10)  # type: ignore[attr-defined]


def test_sweep_removes_only_dead_writers_files(store: ImageStore) -> None:
    live = store.new_writer("alive:1:1")
    dead = store.new_writer("dead:2:2")
    (store.tmp_dir / "stray-without-holder.part").write_bytes(b"x")
    removed = store.sweep_temp(lambda holder: holder == "alive:1:1")
    assert removed == 2
    assert [p.name for p in store.tmp_dir.iterdir()] == [live.path.name]
    assert not dead.path.exists()
    live.abort()


def test_keys_cannot_escape_the_store(store: ImageStore) -> None:
    with pytest.raises(StoreError):
        store.data_path("../../etc/passwd")
    with pytest.raises(StoreError):
        store.staged_path("../x")
