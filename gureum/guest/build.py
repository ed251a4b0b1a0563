"""Build the test guest (kernel, initramfs, bootable qcow2), cached by a content key.

The key covers every input: the exact package versions apt resolves, the
kernel modules and command line, and the builder's own source. Same inputs,
same key, and a second build only reads a manifest.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from gureum.guest import debs
from gureum.guest.bootdisk import build_boot_disk
from gureum.guest.initramfs import GuestParts, build_initramfs
from gureum.guest.kmods import kernel_release, modules_in_load_order

USERLAND_PACKAGES = ["busybox-static", "dropbear-bin"]
# dropbear's libraries; which of them end up in the guest is read from the ELF files.
LIBRARY_PACKAGES = ["libtomcrypt1", "libtommath1", "libgmp10", "zlib1g", "libcrypt1", "libc6"]
# Disk and NIC, entropy for the ssh host key, the config drive's filesystem, the
# power button (ACPI button + evdev for acpid). Dependencies are added in order.
GUEST_MODULES = ["virtio_pci", "virtio_blk", "virtio_net", "virtio_rng", "isofs", "button", "evdev"]
KERNEL_CMDLINE = "console=ttyS0,115200"
# Bump when the output changes for a reason the key cannot see (e.g. host tools).
RECIPE_VERSION = 1

KERNEL_FILE = "vmlinuz"
INITRD_FILE = "initrd.gz"
DISK_FILE = "disk.qcow2"
MANIFEST_FILE = "manifest.json"


@dataclass(frozen=True)
class GuestImage:
    kernel: Path
    initrd: Path
    disk: Path  # qcow2, boots by itself through syslinux
    kernel_cmdline: str  # for direct kernel boot of `kernel` + `initrd`
    key: str
    kernel_package: str


CACHE_ENVIRONMENT_VARIABLE = "GUREUM_GUEST_CACHE"


def default_cache_dir() -> Path:
    """$GUREUM_GUEST_CACHE, else /var/cache/gureum/guest for root, else ~/.cache/gureum/guest."""
    configured = os.environ.get(CACHE_ENVIRONMENT_VARIABLE)
    if configured:
        return Path(configured)
    if os.geteuid() == 0:
        return Path("/var/cache/gureum/guest")
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gureum" / "guest"


def build_guest_image(cache_dir: Path) -> GuestImage:
    """The guest for the current package candidates, built now or found in `cache_dir`."""
    cache_dir = cache_dir.resolve()
    cache_dir.mkdir(parents=True, exist_ok=True)
    packages = _resolved_packages(cache_dir)
    key = _content_key(packages)
    image_dir = cache_dir / "images" / key
    if (image_dir / MANIFEST_FILE).is_file():
        return _image_in(image_dir)
    with _exclusive(cache_dir / ".build.lock"):
        if not (image_dir / MANIFEST_FILE).is_file():  # another process may have built it
            _build_into(image_dir, packages, cache_dir)
            _remove_other_images(image_dir)
    return _image_in(image_dir)


def _remove_other_images(keep: Path) -> None:
    # Each image is ~32 MB and a new key makes the old ones unreachable.
    for entry in keep.parent.iterdir():
        if entry != keep and entry.is_dir() and not entry.name.startswith("."):
            shutil.rmtree(entry, ignore_errors=True)


def _resolved_packages(cache_dir: Path) -> list[debs.DebPackage]:
    """Kernel first, then the rest; remembered until apt's state changes (apt-cache is slow)."""
    remembered = cache_dir / "resolved.json"
    fingerprint = debs.apt_state_fingerprint()
    try:
        saved = json.loads(remembered.read_text())
        if saved["fingerprint"] == fingerprint:
            return [debs.DebPackage(**package) for package in saved["packages"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    kernel_package = debs.cloud_kernel_package()
    packages = debs.resolve_candidates([kernel_package, *USERLAND_PACKAGES, *LIBRARY_PACKAGES])
    record = {"fingerprint": fingerprint, "packages": [asdict(package) for package in packages]}
    _write_atomically(remembered, json.dumps(record, indent=2) + "\n")
    return packages


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(text)
    os.replace(temporary, path)


def _content_key(packages: list[debs.DebPackage]) -> str:
    recipe = {
        "recipe_version": RECIPE_VERSION,
        "packages": [package.pinned for package in packages],
        "modules": GUEST_MODULES,
        "cmdline": KERNEL_CMDLINE,
        "builder_source": _builder_source_digest(),
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def _builder_source_digest() -> str:
    digest = hashlib.sha256()
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


def _build_into(image_dir: Path, packages: list[debs.DebPackage], cache_dir: Path) -> None:
    roots = {package.name: debs.fetch_and_unpack(package, cache_dir) for package in packages}
    kernel_root = roots[packages[0].name]
    release = kernel_release(kernel_root)
    parts = GuestParts(
        busybox_root=roots["busybox-static"],
        dropbear_root=roots["dropbear-bin"],
        library_roots=[roots[name] for name in LIBRARY_PACKAGES],
        modules_in_load_order=modules_in_load_order(kernel_root, GUEST_MODULES),
    )
    image_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=image_dir.parent))
    try:
        shutil.copyfile(kernel_root / "boot" / f"vmlinuz-{release}", staging / KERNEL_FILE)
        (staging / INITRD_FILE).write_bytes(build_initramfs(parts))
        build_boot_disk(staging / KERNEL_FILE, staging / INITRD_FILE, KERNEL_CMDLINE, staging / DISK_FILE, staging)
        manifest = {"key": image_dir.name, "kernel_package": packages[0].pinned, "cmdline": KERNEL_CMDLINE,
                    "packages": [package.pinned for package in packages]}
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        for path in staging.iterdir():
            path.chmod(0o644)  # readable by whoever runs QEMU
        staging.chmod(0o755)
        os.rename(staging, image_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _image_in(image_dir: Path) -> GuestImage:
    manifest = json.loads((image_dir / MANIFEST_FILE).read_text())
    return GuestImage(
        kernel=image_dir / KERNEL_FILE,
        initrd=image_dir / INITRD_FILE,
        disk=image_dir / DISK_FILE,
        kernel_cmdline=manifest["cmdline"],
        key=manifest["key"],
        kernel_package=manifest["kernel_package"],
    )


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
