"""Upload and download a large sparse image; print how much the controller's memory grew.

    .venv/bin/python bench/image_memory.py                 # starts its own gureum up
    .venv/bin/python bench/image_memory.py --size-gib 2 --base-url http://127.0.0.1:8770 \\
        --pid $(pgrep -f 'gureum up') --password "$(cat ~/.local/share/gureum/admin-password)"

The controller must keep image bytes out of memory: the growth of its resident set
(peak, from /proc/PID/status VmHWM after resetting it) should be a few MiB for any size.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
import urllib.request
from pathlib import Path

import httpx

from gureum.testing import start_cloud

MIB = 1024 * 1024


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: int) -> bool:
    """Writing 5 to clear_refs resets VmHWM (Linux 4.0+); needs to be the same user or root."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def token(base_url: str, password: str) -> str:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    request = urllib.request.Request(f"{base_url}/identity/v3/auth/tokens", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.headers["X-Subject-Token"]


def file_chunks(path: Path, chunk: int = 4 * MIB):
    with open(path, "rb") as f:
        while data := f.read(chunk):
            yield data


def run(base_url: str, pid: int, password: str, size_gib: float, workdir: Path) -> None:
    sparse = workdir / "sparse.raw"
    with open(sparse, "wb") as f:
        f.truncate(int(size_gib * 1024 * MIB))
    size = sparse.stat().st_size
    http = httpx.Client(base_url=f"{base_url}/image", headers={"X-Auth-Token": token(base_url, password)},
                        timeout=3600)
    image = http.post("/v2/images", json={"name": "memory-bench", "disk_format": "raw",
                                          "container_format": "bare"}).json()

    baseline = status_kib(pid, "VmRSS")
    peak_known = reset_peak(pid)
    started = time.monotonic()
    response = http.put(f"/v2/images/{image['id']}/file", content=file_chunks(sparse),
                        headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
    response.raise_for_status()
    upload_seconds = time.monotonic() - started
    after_upload = status_kib(pid, "VmHWM" if peak_known else "VmRSS")

    md5 = hashlib.md5(usedforsecurity=False)
    started = time.monotonic()
    received = 0
    with http.stream("GET", f"/v2/images/{image['id']}/file") as download:
        download.raise_for_status()
        for chunk in download.iter_bytes(4 * MIB):
            md5.update(chunk)
            received += len(chunk)
    download_seconds = time.monotonic() - started
    after_download = status_kib(pid, "VmHWM" if peak_known else "VmRSS")
    checksum = http.get(f"/v2/images/{image['id']}").json()["checksum"]
    http.delete(f"/v2/images/{image['id']}")

    kind = "peak RSS (VmHWM)" if peak_known else "RSS (peak unavailable)"
    print(f"image size:            {size / MIB:.0f} MiB")
    print(f"upload:                {upload_seconds:.1f} s ({size / MIB / upload_seconds:.0f} MiB/s)")
    print(f"download:              {download_seconds:.1f} s ({received / MIB / download_seconds:.0f} MiB/s)")
    print(f"checksum matches:      {checksum == md5.hexdigest() and received == size}")
    print(f"controller RSS before: {baseline / 1024:.1f} MiB")
    print(f"{kind} growth, upload:   {(after_upload - baseline) / 1024:+.1f} MiB")
    print(f"{kind} growth, download: {(after_download - baseline) / 1024:+.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=float, default=2.0)
    parser.add_argument("--base-url", help="a running controller (default: start one in a temp dir)")
    parser.add_argument("--pid", type=int, help="the controller's process id (with --base-url)")
    parser.add_argument("--password", help="the admin password (with --base-url)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gureum-bench-") as tmp:
        workdir = Path(tmp)
        if args.base_url:
            if not (args.pid and args.password):
                parser.error("--base-url needs --pid and --password")
            run(args.base_url.rstrip("/"), args.pid, args.password, args.size_gib, workdir)
            return
        cloud = start_cloud(workdir / "state")
        try:
            run(cloud.base_url, cloud.process.pid, cloud.admin_password, args.size_gib, workdir)
        finally:
            cloud.stop()


if __name__ == "__main__":
    main()
