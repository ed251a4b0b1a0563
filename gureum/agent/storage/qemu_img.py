"""qemu-img, run with the checks a volume needs (format, backing files, sizes)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from gureum.agent.storage.base import VolumeError, VolumeSourceError

# Long conversions (an image of a few GiB under load) still finish.
_CONVERT_TIMEOUT_SECONDS = 3600


def run(args: list[str], failure: str, timeout: float = 600) -> str:
    try:
        result = subprocess.run(["qemu-img", *args], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise VolumeError(f"{failure}: qemu-img took more than {timeout:.0f} s") from exc
    if result.returncode != 0:
        raise VolumeError(f"{failure}: {result.stderr.strip()[:500]}")
    return result.stdout


def info(path: Path, share: bool = False) -> dict[str, Any]:
    args = ["info", "--output=json", *(["-U"] if share else []), str(path)]
    return json.loads(run(args, f"cannot read {path.name}"))


def checked_image_format(image: Path, size_bytes: int) -> str:
    """The format of an image that may become a volume, as Glance's format checks would allow it:
    raw or qcow2, no backing or external data file, and no bigger than the volume."""
    details = info(image)
    disk_format = details.get("format")
    if disk_format not in ("raw", "qcow2"):
        raise VolumeSourceError(f"the image is {disk_format}; only raw and qcow2 images can become volumes")
    if details.get("backing-filename") or details.get("full-backing-filename"):
        raise VolumeSourceError("the image names a backing file; such images are refused")
    if (details.get("format-specific", {}).get("data", {}) or {}).get("data-file"):
        raise VolumeSourceError("the image names an external data file; such images are refused")
    virtual = int(details["virtual-size"])
    if virtual > size_bytes:
        raise VolumeSourceError(f"the image is {_gib(virtual)} GiB but the volume only {_gib(size_bytes)} GiB")
    return disk_format


def convert(source: Path, source_format: str, target: Path, target_format: str, *,
            snapshot: str | None = None, share: bool = False, compress: bool = False) -> None:
    args = ["convert", "-q", "-f", source_format, "-O", target_format]
    if share:
        args.append("-U")
    if snapshot is not None:
        args += ["-l", f"snapshot.name={snapshot}"]
    if compress:
        args.append("-c")
    run([*args, str(source), str(target)], f"could not copy {source.name}", timeout=_CONVERT_TIMEOUT_SECONDS)


def resize(path: Path, size_bytes: int, failure: str) -> None:
    run(["resize", "-q", "--shrink", "-f", "qcow2", str(path), str(size_bytes)], failure)


def _gib(size: int) -> str:
    return f"{size / 1024**3:g}"
