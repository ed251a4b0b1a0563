"""Object storage figures, printed: throughput against the host's disk, small PUTs, deep listings.

Starts its own `gureum up` (no agent) and prints:
  - PUT and GET throughput of a 1 MiB and a 1 GiB object through the Swift API, each
    as a ratio to writing (with fsync) and reading the same bytes as a file on the
    same disk (best of --rounds; the machine is shared);
  - small PUTs per second: --small objects of 4 KiB from 16 concurrent clients;
  - a deep listing page: a container seeded in SQL with --rows objects (1,000,000 by
    default), then GET ?format=json&limit=10000&marker=<a name 90 % in> over HTTP, and
    the same page with a prefix and with a delimiter (1000 subdirs, skip-ahead).
With --database-url (PostgreSQL) the cloud runs on it and the listing is measured there too.

    .venv/bin/python bench/objectstore.py [--rows 1000000] [--big-mib 1024] [--database-url URL]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gureum.testing import remove_state, start_cloud  # noqa: E402

CHUNK = 1024 * 1024


def chunks(size: int, block: bytes) -> object:
    sent = 0
    while sent < size:
        piece = block[: min(len(block), size - sent)]
        sent += len(piece)
        yield piece


def disk_write_read(directory: Path, size: int, block: bytes) -> tuple[float, float]:
    path = directory / f"disk-{uuid.uuid4().hex}"
    started = time.perf_counter()
    with open(path, "wb") as f:
        for piece in chunks(size, block):
            f.write(piece)  # type: ignore[arg-type]
        f.flush()
        os.fsync(f.fileno())
    write = time.perf_counter() - started
    started = time.perf_counter()
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while data := f.read(CHUNK):
            digest.update(data)
    read = time.perf_counter() - started
    path.unlink()
    return write, read


def api_put_get(http: httpx.Client, container: str, size: int, block: bytes) -> tuple[float, float]:
    name = f"o-{uuid.uuid4().hex}"
    started = time.perf_counter()
    response = http.put(f"/{container}/{name}", content=chunks(size, block), headers={"Content-Length": str(size)})
    assert response.status_code == 201, response.text
    put = time.perf_counter() - started
    started = time.perf_counter()
    got = 0
    with http.stream("GET", f"/{container}/{name}") as response:
        for data in response.iter_bytes(CHUNK):
            got += len(data)
    get = time.perf_counter() - started
    assert got == size
    http.delete(f"/{container}/{name}")
    return put, get


def throughput(http: httpx.Client, container: str, state: Path, size: int, rounds: int) -> None:
    block = os.urandom(CHUNK)
    best_disk = (min_w, min_r) = (float("inf"), float("inf"))
    best_api = (float("inf"), float("inf"))
    for _ in range(rounds):
        w, r = disk_write_read(state, size, block)
        best_disk = (min(best_disk[0], w), min(best_disk[1], r))
        p, g = api_put_get(http, container, size, block)
        best_api = (min(best_api[0], p), min(best_api[1], g))
    del min_w, min_r
    mib = size / CHUNK
    print(f"  {mib:6.0f} MiB  PUT {mib / best_api[0]:7.1f} MiB/s (disk write+fsync {mib / best_disk[0]:7.1f}, "
          f"ratio {best_disk[0] / best_api[0]:.2f})   GET {mib / best_api[1]:7.1f} MiB/s "
          f"(disk read {mib / best_disk[1]:7.1f}, ratio {best_disk[1] / best_api[1]:.2f})")


def small_puts(base: str, token: str, container: str, count: int, clients: int) -> None:
    body = os.urandom(4096)

    def worker(names: list[str]) -> None:
        with httpx.Client(base_url=base, headers={"X-Auth-Token": token}, timeout=120) as http:
            for name in names:
                assert http.put(f"/{container}/{name}", content=body).status_code == 201

    names = [f"small-{i:06d}" for i in range(count)]
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(worker, [names[i::clients] for i in range(clients)]))
    elapsed = time.perf_counter() - started
    print(f"  {count} PUTs of 4 KiB, {clients} clients: {count / elapsed:.0f}/s ({elapsed:.1f} s)")


def seed(db_url: str, project_id: str, container: str, rows: int) -> None:
    """A container of `rows` objects written straight into the tables (the API would take hours)."""
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    started = time.perf_counter()
    with engine.begin() as conn:
        container_id = conn.execute(text("SELECT id FROM os_container WHERE project_id=:p AND name=:n"),
                                    {"p": project_id, "n": container}).scalar_one()
        now = time.time()
        batch = []
        for i in range(rows):
            # 1000 top-level "directories" of 1000 objects each.
            name = f"d{i % 1000:04d}/obj-{i:08d}"
            batch.append({"c": container_id, "n": name, "t": now})
            if len(batch) == 10000:
                conn.execute(text(
                    "INSERT INTO os_object (container_id, name, blob_id, size, etag, content_type, timestamp, "
                    "meta, headers, kind) VALUES (:c, :n, NULL, 0, 'd41d8cd98f00b204e9800998ecf8427e', "
                    "'application/octet-stream', :t, '{}', '{}', 'plain')"), batch)
                batch = []
        if batch:
            conn.execute(text(
                "INSERT INTO os_object (container_id, name, blob_id, size, etag, content_type, timestamp, "
                "meta, headers, kind) VALUES (:c, :n, NULL, 0, 'd41d8cd98f00b204e9800998ecf8427e', "
                "'application/octet-stream', :t, '{}', '{}', 'plain')"), batch)
        conn.execute(text("UPDATE os_container SET object_count = :r WHERE id = :c"), {"r": rows, "c": container_id})
        conn.execute(text("ANALYZE"))
    engine.dispose()
    print(f"  seeded {rows} rows in SQL in {time.perf_counter() - started:.0f} s")


def timed_get(http: httpx.Client, path: str, params: dict[str, str], repeat: int = 5) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        response = http.get(path, params=params)
        best = min(best, time.perf_counter() - started)
        count = len(response.json())
    return best * 1000, count


def deep_listing(http: httpx.Client, db_url: str, project_id: str, rows: int) -> None:
    container = f"deep-{uuid.uuid4().hex[:6]}"
    assert http.put(f"/{container}").status_code == 201
    seed(db_url, project_id, container, rows)
    marker = f"d0900/obj-{int(rows * 0.9):08d}"
    for label, params in (
        ("10000 rows after a marker 90 % in", {"format": "json", "limit": "10000", "marker": marker}),
        ("prefix, 1000 rows", {"format": "json", "prefix": "d0500/"}),
        ("top-level delimiter, 1000 subdirs", {"format": "json", "delimiter": "/"}),
    ):
        ms, count = timed_get(http, f"/{container}", params)
        print(f"  {label}: {ms:.1f} ms over HTTP ({count} entries)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="bench-os-", dir="/var/tmp"))
    extra = ["--no-agent", "--no-guest-image"]
    if args.database_url:
        extra += ["--database-url", args.database_url]
    cloud = start_cloud(state, *extra, timeout=120)
    try:
        token = cloud.token()
        project_id = httpx.get(f"{cloud.auth_url}/auth/tokens", headers={"X-Auth-Token": token,
                               "X-Subject-Token": token}).json()["token"]["project"]["id"]
        base = f"{cloud.base_url}/object-store/v1/AUTH_{project_id}"
        db_url = args.database_url or f"sqlite:///{state / 'gureum.db'}"
        print(f"gureum object storage on {'PostgreSQL' if args.database_url else 'SQLite'}, state in {state}")
        with httpx.Client(base_url=base, headers={"X-Auth-Token": token}, timeout=600) as http:
            assert http.put("/bench").status_code in (201, 202)
            print("throughput (best of %d):" % args.rounds)
            throughput(http, "bench", state, CHUNK, args.rounds)
            throughput(http, "bench", state, args.big_mib * CHUNK, max(1, args.rounds - 1))
            print("small objects:")
            small_puts(base, token, "bench", args.small, args.clients)
            print(f"deep listing ({args.rows} objects):")
            deep_listing(http, db_url, project_id, args.rows)
    finally:
        cloud.stop()
        remove_state(state)


if __name__ == "__main__":
    main()
