"""A genuine Debian 12 cloud image for end-to-end tests, built from Debian's own packages.

People boot the images their distribution publishes: systemd, the real cloud-init,
ifupdown. This builds one the way Debian's OpenStack image is put together, from
the bookworm packages of the mirror apt already uses here:

- `debootstrap --variant=minbase` with the kernel (linux-image-cloud-amd64),
  cloud-init, openssh-server, ifupdown and isc-dhcp-client (cloud-init 22.4
  renders Debian's network config as /etc/network/interfaces.d, as Debian 12's
  own cloud images do), sudo and growpart; LANG=C.UTF-8, as Debian's images set
  it (cloud-init's locale module would otherwise try to make en_US.UTF-8, which
  Debian's locale-gen does not take as an argument, and fail);
- cloud-init's datasource list as Debian's OpenStack image has it, [ConfigDrive,
  OpenStack, None], its stock modules, and the default user `debian`;
- boot as gureum's own guest disk does it (gureum.guest.bootdisk), without loop
  devices or mounts: an MBR with syslinux, a FAT partition holding syslinux, the
  kernel and the initramfs (mtools), and an ext4 root made from the tree by
  `mke2fs -d`, written at its partition's offset; the kernel logs to ttyS0;
- small and quick to boot under TCG: no documentation, no apt cache or lists,
  the timers a throwaway guest never needs masked (apt-daily, e2scrub, fstrim).

The qcow2 is cached outside the repository (`/var/cache/gureum-test`, or
$GUREUM_TEST_IMAGE_CACHE), named by a hash of this recipe (this file's text,
the suite and the mirror): changing the recipe builds a new one, and the old
one is removed once the new one is there. Needs root, debootstrap, mtools,
syslinux, fdisk, e2fsprogs and qemu-utils.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from gureum.guest.bootdisk import (
    FAT16_LBA,
    MBR_BOOT_CODE_BYTES,
    MIB,
    PARTITION_START_SECTOR,
    SECTOR,
    SYSLINUX_MBR,
    syslinux_config,
)

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
CACHE_DIR = Path(os.environ.get("GUREUM_TEST_IMAGE_CACHE", "/var/cache/gureum-test"))
IMAGE_STEM = "debian-12-cloud"

# Beyond minbase: what Debian 12's genericcloud image boots with, less what a test never uses.
PACKAGES = (
    "linux-image-cloud-amd64",
    "systemd-sysv",
    "udev",
    "cloud-init",
    "cloud-guest-utils",  # growpart: cloud-init grows the root partition to the flavor's disk
    "openssh-server",
    "ifupdown",
    "isc-dhcp-client",  # ifupdown's and cloud-init's own (ephemeral, init-local) DHCP client
    "iproute2",
    "sudo",
    "e2fsprogs",
    "netbase",
    # debootstrap resolves no virtual packages: python3-cryptography's cffi ABI comes from this.
    "python3-cffi-backend",
)

DISK_BYTES = 2048 * MIB  # the image's virtual size; cloud-init grows the root to the flavor's disk
BOOT_BYTES = 96 * MIB
LINUX_PARTITION = "83"
ROOT_LABEL = "debian-root"
KERNEL_CMDLINE = "root=UUID={uuid} ro console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0"

# Timers and services a throwaway guest does not need, each costing seconds of a TCG boot.
MASKED_UNITS = (
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "apt-daily.service",
    "apt-daily-upgrade.service",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
)

# As Debian's OpenStack image: the config drive first, then the metadata service.
CLOUD_CFG = """\
# Written by gureum.testing_cloudimage, as Debian's OpenStack image configures it.
datasource_list: [ ConfigDrive, OpenStack, None ]
"""

SOURCES = """\
Types: deb
URIs: {mirror}
Suites: {suite} {suite}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: {security}
Suites: {suite}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

INTERFACES = """\
# cloud-init writes each interface's stanza under interfaces.d.
source /etc/network/interfaces.d/*

auto lo
iface lo inet loopback
"""

HOSTS = """\
127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
ff02::1 ip6-allnodes
ff02::2 ip6-allrouters
"""


class CloudImageError(RuntimeError):
    """A build step failed."""


@dataclass(frozen=True)
class CloudImage:
    path: Path
    recipe_hash: str
    built: bool  # False when it came from the cache
    build_seconds: float | None  # how long its build took (recorded beside it)
    packages: dict[str, str]  # name -> version, of the kernel, systemd, cloud-init and openssh

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


def debootstrap_available() -> bool:
    return shutil.which("debootstrap") is not None or Path("/usr/sbin/debootstrap").exists()


def host_mirror() -> str:
    """The Debian mirror apt uses here for the main archive (not security), or Debian's CDN."""
    sources = Path("/etc/apt/sources.list.d")
    for path in sorted(sources.glob("*.sources")) if sources.is_dir() else []:
        for stanza in re.split(r"\n\s*\n", path.read_text(errors="replace")):
            fields = _deb822(stanza)
            suites = fields.get("suites", "").split()
            if "deb" in fields.get("types", "").split() and SUITE in suites and fields.get("enabled", "yes") != "no":
                return fields["uris"].split()[0].rstrip("/")
    lists = [Path("/etc/apt/sources.list"), *sorted(sources.glob("*.list"))] if sources.is_dir() else []
    for path in lists:
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb" and words[2] == SUITE:
                return words[1].rstrip("/")
    return DEFAULT_MIRROR


def _deb822(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in stanza.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line[0].isspace() and key:
            fields[key] += " " + line.strip()
            continue
        name, _, value = line.partition(":")
        key = name.strip().lower()
        fields[key] = value.strip()
    return fields


def recipe_hash(mirror: str) -> str:
    """Changes with anything that changes what gets built: this file, the suite, the mirror."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(f"\0{SUITE}\0{mirror}".encode())
    return digest.hexdigest()[:16]


def debian_cloud_image(cache_dir: Path = CACHE_DIR, mirror: str | None = None,
                       log: Path | None = None) -> CloudImage:
    """The cached image for the current recipe, built first when there is none.

    Safe to call from several processes at once: one builds, the others wait for it.
    `log` gets the build tools' output (default: beside the image).
    """
    mirror = mirror or host_mirror()
    key = recipe_hash(mirror)
    cache_dir.mkdir(parents=True, exist_ok=True)
    image = cache_dir / f"{IMAGE_STEM}-{key}.qcow2"
    info_path = image.with_suffix(".json")
    with open(cache_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = False
        if not (image.exists() and info_path.exists()):
            started = time.monotonic()
            packages = _build(image, cache_dir, mirror, log or image.with_suffix(".log"))
            info = {"build_seconds": round(time.monotonic() - started, 1), "packages": packages,
                    "mirror": mirror, "suite": SUITE}
            info_path.write_text(json.dumps(info, indent=1) + "\n")
            built = True
            for old in cache_dir.glob(f"{IMAGE_STEM}-*"):
                if not old.name.startswith(image.stem) and old.is_file():
                    old.unlink()
        info = json.loads(info_path.read_text())
    return CloudImage(path=image, recipe_hash=key, built=built, build_seconds=info.get("build_seconds"),
                      packages=info.get("packages", {}))


def _build(image: Path, cache_dir: Path, mirror: str, log_path: Path) -> dict[str, str]:
    debs = cache_dir / "debs"  # debootstrap keeps the .deb files here between builds
    debs.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="build-", dir=cache_dir))
    tree = work / "root"
    partial = image.with_name(image.name + ".partial")
    try:
        with log_path.open("w") as log:
            _debootstrap(tree, debs, mirror, log)
            root_uuid = str(uuid.UUID(hashlib.sha256(image.name.encode()).hexdigest()[:32]))
            kernel, initrd = _configure(tree, root_uuid, mirror)
            packages = _versions(tree)
            _trim(tree)
            raw = work / "disk.raw"
            _make_disk(raw, tree, kernel, initrd, root_uuid, work, log)
            _run(["qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", str(raw), str(partial)], log)
            partial.rename(image)
        return packages
    finally:
        partial.unlink(missing_ok=True)
        _remove_tree(work)


def _debootstrap(tree: Path, debs: Path, mirror: str, log: object) -> None:
    argv = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", f"--cache-dir={debs}",
            SUITE, str(tree), mirror]
    _run(argv, log)


def _configure(tree: Path, root_uuid: str, mirror: str) -> tuple[Path, Path]:
    """The files that make the tree a cloud image; returns its kernel and initramfs."""
    etc = tree / "etc"
    (etc / "fstab").write_text(f"UUID={root_uuid} / ext4 rw,discard,errors=remount-ro 0 1\n")
    (etc / "hostname").write_text("localhost\n")
    # As Debian's cloud images: C.UTF-8, which needs no generating (cloud-init's locale
    # module keeps a system locale that is set; unset, it tries en_US.UTF-8).
    (etc / "default" / "locale").write_text("LANG=C.UTF-8\n")
    (etc / "hosts").write_text(HOSTS)
    (etc / "network" / "interfaces").write_text(INTERFACES)
    (etc / "network" / "interfaces.d").mkdir(exist_ok=True)
    (etc / "cloud" / "cloud.cfg.d" / "01_gureum_datasources.cfg").write_text(CLOUD_CFG)
    (etc / "apt" / "sources.list").unlink(missing_ok=True)
    (etc / "apt" / "sources.list.d" / "debian.sources").write_text(
        SOURCES.format(mirror=mirror, security=SECURITY_MIRROR, suite=SUITE))
    # Each guest makes its own identity on first boot.
    (etc / "machine-id").write_text("")
    (tree / "var" / "lib" / "dbus" / "machine-id").unlink(missing_ok=True)
    for key in (etc / "ssh").glob("ssh_host_*"):
        key.unlink()
    (etc / "resolv.conf").unlink(missing_ok=True)  # debootstrap copied the host's
    _run(["systemctl", f"--root={tree}", "mask", *MASKED_UNITS])
    kernels = sorted((tree / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise CloudImageError(f"no kernel in {tree / 'boot'}")
    kernel = kernels[-1]
    initrd = tree / "boot" / kernel.name.replace("vmlinuz-", "initrd.img-")
    if not initrd.exists():
        raise CloudImageError(f"no initramfs {initrd}")
    return kernel, initrd


def _versions(tree: Path) -> dict[str, str]:
    names = ("linux-image-cloud-amd64", "systemd", "cloud-init", "openssh-server", "ifupdown")
    out = subprocess.run(["dpkg-query", f"--admindir={tree / 'var/lib/dpkg'}", "-W",
                          "-f", "${Package}\t${Version}\n", *names], capture_output=True, text=True).stdout
    return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)


def _trim(tree: Path) -> None:
    """No documentation, no apt cache or package lists, no build logs: a smaller image."""
    usr_share = tree / "usr" / "share"
    for doc in (usr_share / "doc").iterdir():
        if doc.is_dir() and not doc.is_symlink():
            for entry in doc.iterdir():
                if entry.name != "copyright":
                    _remove(entry)
    for name in ("man", "info", "lintian", "linda"):
        for entry in (usr_share / name).glob("*") if (usr_share / name).is_dir() else []:
            _remove(entry)
    for entry in (usr_share / "locale").glob("*") if (usr_share / "locale").is_dir() else []:
        if entry.is_dir() and entry.name != "locale.alias":
            _remove(entry)
    for pattern in ("var/cache/apt/*.bin", "var/cache/apt/archives/*.deb", "var/lib/apt/lists/*",
                    "var/cache/debconf/*-old", "var/log/bootstrap.log", "var/log/apt/*", "var/log/dpkg.log"):
        for entry in tree.glob(pattern):
            if entry.name != "lock" and entry.name != "partial":
                _remove(entry)


def _make_disk(raw: Path, tree: Path, kernel: Path, initrd: Path, root_uuid: str, work: Path,
               log: object) -> None:
    """MBR + FAT boot partition (syslinux, kernel, initramfs) + ext4 root, all in plain files."""
    boot_start = PARTITION_START_SECTOR * SECTOR
    root_start = boot_start + BOOT_BYTES
    root_bytes = DISK_BYTES - root_start
    with raw.open("wb") as handle:
        handle.truncate(DISK_BYTES)
    table = (f"label: dos\n"
             f"start={PARTITION_START_SECTOR}, size={BOOT_BYTES // SECTOR}, type={FAT16_LBA}, bootable\n"
             f"start={root_start // SECTOR}, type={LINUX_PARTITION}\n")
    _run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", str(raw)], log, stdin=table)
    with raw.open("r+b") as handle:
        handle.write(SYSLINUX_MBR.read_bytes()[:MBR_BOOT_CODE_BYTES])

    boot = work / "boot.img"
    with boot.open("wb") as handle:
        handle.truncate(BOOT_BYTES)
    _run(["mkfs.fat", "-F", "16", "-n", "BOOT", str(boot)], log)
    config = work / "syslinux.cfg"
    config.write_text(syslinux_config(KERNEL_CMDLINE.format(uuid=root_uuid)))
    for source, name in ((kernel, "vmlinuz"), (initrd, "initrd.gz"), (config, "syslinux.cfg")):
        _run(["mcopy", "-i", str(boot), str(source), f"::/{name}"], log)
    _run(["syslinux", "--install", str(boot)], log)
    _copy_into(boot, raw, boot_start)
    boot.unlink()

    # The kernel and initramfs boot from the FAT partition; the root's /boot keeps nothing twice.
    for entry in (tree / "boot").iterdir():
        _remove(entry)
    _run(["mke2fs", "-q", "-F", "-t", "ext4", "-L", ROOT_LABEL, "-U", root_uuid, "-m", "1",
          "-E", f"offset={root_start}", "-d", str(tree), str(raw), f"{root_bytes // 1024}k"], log)


def _copy_into(source: Path, disk: Path, offset: int) -> None:
    with disk.open("r+b") as handle, source.open("rb") as data:
        handle.seek(offset)
        while chunk := data.read(MIB):
            handle.write(chunk)


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry)
    else:
        entry.unlink(missing_ok=True)


def _mounts_under(path: Path) -> list[Path]:
    prefix = str(path.resolve())
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            found.append(Path(point))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def _remove_tree(work: Path) -> None:
    """Remove the build directory, never through a mount debootstrap may have left in the tree."""
    for point in _mounts_under(work):
        if subprocess.run(["umount", str(point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(point)], capture_output=True)
    left = _mounts_under(work)
    if left:
        raise CloudImageError(f"not removing {work}: still mounted: {', '.join(map(str, left))}")
    shutil.rmtree(work, ignore_errors=True)


def _run(argv: list[str], log: object = None, stdin: str | None = None) -> None:
    # mtools refuses images whose geometry looks odd to it unless told not to check.
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C.UTF-8"}
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env)
    if log is not None:
        log.write(f"$ {' '.join(argv)}\n{result.stdout}{result.stderr}\n")  # type: ignore[attr-defined]
        log.flush()  # type: ignore[attr-defined]
    if result.returncode != 0:
        tail = (result.stderr.strip() or result.stdout.strip())[-3000:]
        raise CloudImageError(f"{' '.join(argv)} failed ({result.returncode}): {tail}")


def main() -> None:
    """`python -m gureum.testing_cloudimage`: build (or find) the image and say what it is."""
    started = time.monotonic()
    image = debian_cloud_image()
    print(json.dumps({"path": str(image.path), "built": image.built, "seconds": round(time.monotonic() - started, 1),
                      "build_seconds": image.build_seconds, "size_mib": round(image.size_bytes / MIB, 1),
                      "packages": image.packages}, indent=1))


if __name__ == "__main__":
    main()
