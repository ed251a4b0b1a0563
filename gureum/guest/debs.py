"""Fetch Debian packages into a cache and unpack them, installing nothing on the host.

apt decides the versions (the host's configured candidates), `apt-get download`
fetches the .deb files and verifies them against the signed indexes, and
`dpkg-deb -x` unpacks each into its own directory.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# The meta-package whose candidate names the current cloud kernel package.
CLOUD_KERNEL_META = "linux-image-cloud-amd64"


class PackageError(RuntimeError):
    """apt could not resolve, fetch or unpack a package."""


@dataclass(frozen=True)
class DebPackage:
    name: str
    version: str
    architecture: str

    @property
    def pinned(self) -> str:
        return f"{self.name}={self.version}"

    @property
    def deb_filename(self) -> str:
        # apt-get download writes the epoch colon URL-encoded.
        return f"{self.name}_{self.version.replace(':', '%3a')}_{self.architecture}.deb"


# What apt's answers depend on: the package lists, what is installed, the config.
_APT_STATE_PATHS = (Path("/var/lib/apt/lists"), Path("/var/lib/dpkg/status"), Path("/etc/apt"))


def apt_state_fingerprint() -> str:
    """Changes whenever apt could resolve a different candidate (update, pinning)."""
    digest = hashlib.sha256()
    for root in _APT_STATE_PATHS:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in paths:
            try:
                info = path.stat()
            except OSError:  # apt may be rotating a file right now
                continue
            digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cloud_kernel_package() -> str:
    """Name of the kernel package the cloud meta-package's candidate depends on."""
    output = _run(["apt-cache", "depends", "--important", CLOUD_KERNEL_META])
    for line in output.splitlines():
        key, _, value = line.strip().partition(":")
        if key == "Depends" and value.strip().startswith("linux-image-"):
            return value.strip()
    raise PackageError(f"{CLOUD_KERNEL_META} has no candidate depending on a kernel; run apt-get update")


def resolve_candidates(names: list[str]) -> list[DebPackage]:
    """The candidate version of each package, in the order given."""
    output = _run(["apt-cache", "show", "--no-all-versions", *names])
    found: dict[str, DebPackage] = {}
    for stanza in output.strip().split("\n\n"):
        fields = _stanza_fields(stanza)
        name = fields.get("Package", "")
        if name in names and name not in found:
            found[name] = DebPackage(name, fields["Version"], fields["Architecture"])
    missing = [name for name in names if name not in found]
    if missing:
        raise PackageError(f"no installable candidate for: {', '.join(missing)}")
    return [found[name] for name in names]


def fetch_and_unpack(package: DebPackage, cache_dir: Path) -> Path:
    """Directory holding the unpacked package; downloaded and unpacked once."""
    unpacked = cache_dir / "unpacked" / f"{package.name}_{package.version.replace(':', '%3a')}"
    if unpacked.is_dir():
        return unpacked
    deb = _download(package, cache_dir / "debs")
    unpacked.parent.mkdir(parents=True, exist_ok=True)
    # Unpack beside the target and rename, so a crash never leaves half a tree.
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=unpacked.parent))
    try:
        _run(["dpkg-deb", "-x", str(deb), str(staging)])
        os.rename(staging, unpacked)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return unpacked


def _download(package: DebPackage, debs_dir: Path) -> Path:
    deb = debs_dir / package.deb_filename
    if deb.is_file():
        return deb
    debs_dir.mkdir(parents=True, exist_ok=True)
    # As root, apt drops to the _apt user, which cannot write to our cache dir.
    _run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", package.pinned], cwd=debs_dir)
    if not deb.is_file():
        raise PackageError(f"apt-get download {package.pinned} did not produce {deb.name}")
    return deb


def _stanza_fields(stanza: str) -> dict[str, str]:
    fields = {}
    for line in stanza.splitlines():
        if line and not line[0].isspace() and ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def _run(argv: list[str], cwd: Path | None = None) -> str:
    result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise PackageError(f"{' '.join(argv)} failed: {result.stderr.strip()}")
    return result.stdout
