"""Assemble the guest's whole userland as a gzip initramfs.

The guest runs from RAM: busybox for the tools and init, dropbear with exactly
the libraries it links against, the kernel modules it needs, and the scripts
in files.py. A device node for /dev/console is an archive entry because init
has no console without it.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from gureum.guest import files
from gureum.guest.cpio import CpioArchive
from gureum.guest.elf import needed_libraries
from gureum.guest.kmods import module_name

LIBRARY_DIR = "lib/x86_64-linux-gnu"
# The interpreter path baked into every x86-64 glibc binary.
ELF_INTERPRETER = "lib64/ld-linux-x86-64.so.2"
_LIBRARY_SEARCH = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu")


class InitramfsError(RuntimeError):
    """Something the guest needs is missing from the unpacked packages."""


@dataclass(frozen=True)
class GuestParts:
    """Unpacked package trees the guest is made from."""

    busybox_root: Path
    dropbear_root: Path
    library_roots: list[Path]
    modules_in_load_order: list[Path]


def build_initramfs(parts: GuestParts) -> bytes:
    archive = CpioArchive()
    _add_skeleton(archive)
    _add_busybox(archive, parts.busybox_root)
    _add_dropbear(archive, parts.dropbear_root, parts.library_roots)
    _add_modules(archive, parts.modules_in_load_order)
    _add_configuration(archive)
    return archive.to_gzip()


def _add_skeleton(archive: CpioArchive) -> None:
    for directory in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "lib", LIBRARY_DIR, "lib64",
                      "lib/modules", "etc", "etc/init.d", "etc/dropbear", "etc/udhcpc", "etc/gureum",
                      "etc/acpi", "etc/acpi/PWRF", "dev", "proc", "sys", "run", "mnt", "var", "var/log"):
        archive.add_directory(directory)
    archive.add_directory("root", 0o700)
    archive.add_directory("tmp", 0o1777)
    archive.add_char_device("dev/console", 5, 1, 0o600)
    archive.add_char_device("dev/null", 1, 3, 0o666)
    # The kernel runs /init from an initramfs; busybox picks its applet from argv[0].
    archive.add_symlink("init", "/bin/busybox")
    archive.add_symlink("var/run", "/run")


def _add_busybox(archive: CpioArchive, busybox_root: Path) -> None:
    busybox = busybox_root / "bin" / "busybox"
    archive.add_host_file("bin/busybox", busybox, 0o755)
    # The static busybox runs on the host too; ask it where each applet lives.
    applets = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True, check=True)
    for applet in applets.stdout.split():
        if applet != "bin/busybox" and applet not in archive:
            archive.ensure_directories(applet)
            archive.add_symlink(applet, "/bin/busybox")


def _add_dropbear(archive: CpioArchive, dropbear_root: Path, library_roots: list[Path]) -> None:
    binaries = {"usr/sbin/dropbear": dropbear_root / "usr/sbin/dropbear",
                "usr/bin/dropbearkey": dropbear_root / "usr/bin/dropbearkey"}
    for path, source in binaries.items():
        archive.add_host_file(path, source, 0o755)
    for soname, source in _library_closure(list(binaries.values()), library_roots).items():
        archive.add_host_file(f"{LIBRARY_DIR}/{soname}", source, 0o755)
    interpreter = PurePosixPath(ELF_INTERPRETER).name
    if f"{LIBRARY_DIR}/{interpreter}" not in archive:
        archive.add_host_file(f"{LIBRARY_DIR}/{interpreter}", _find_library(interpreter, library_roots), 0o755)
    archive.add_symlink(ELF_INTERPRETER, f"/{LIBRARY_DIR}/{interpreter}")


def _library_closure(binaries: list[Path], library_roots: list[Path]) -> dict[str, Path]:
    """soname -> file for every library the binaries need, transitively."""
    found: dict[str, Path] = {}
    pending = [soname for binary in binaries for soname in needed_libraries(binary)]
    while pending:
        soname = pending.pop()
        if soname in found:
            continue
        found[soname] = _find_library(soname, library_roots)
        pending.extend(needed_libraries(found[soname]))
    return found


def _find_library(soname: str, library_roots: list[Path]) -> Path:
    for root in library_roots:
        for directory in _LIBRARY_SEARCH:
            candidate = root / directory / soname
            if candidate.exists() or candidate.is_symlink():
                return _resolve_inside(candidate, root)
    raise InitramfsError(f"no package provides {soname} (add its package to the guest recipe)")


def _resolve_inside(path: Path, root: Path) -> Path:
    """Follow symlinks, reading absolute targets as relative to the package root."""
    for _ in range(10):
        if not path.is_symlink():
            return path
        target = Path(path.readlink())
        path = root / target.relative_to("/") if target.is_absolute() else path.parent / target
    raise InitramfsError(f"symlink loop at {path}")


def _add_modules(archive: CpioArchive, modules: list[Path]) -> None:
    names = []
    for module in modules:
        name = module_name(module)
        archive.add_host_file(f"lib/modules/{name}.ko", module, 0o644)
        names.append(name)
    archive.add_file("etc/gureum/modules", ("\n".join(names) + "\n").encode())


def _add_configuration(archive: CpioArchive) -> None:
    executables = {
        "etc/init.d/rcS": files.RC_S,
        "etc/init.d/rcK": files.RC_K,
        "etc/udhcpc/default.script": files.UDHCPC_SCRIPT,
        "etc/acpi/PWRF/00000080": files.ACPI_POWER_BUTTON,
    }
    for path, text in executables.items():
        archive.add_file(path, text.encode(), 0o755)
    plain = {
        "etc/inittab": files.INITTAB,
        "etc/profile": files.PROFILE,
        "etc/passwd": files.PASSWD,
        "etc/group": files.GROUP,
        "etc/shells": files.SHELLS,
        "etc/nsswitch.conf": files.NSSWITCH,
        "etc/hostname": "gureum\n",
    }
    for path, text in plain.items():
        archive.add_file(path, text.encode())
    archive.add_file("etc/shadow", files.SHADOW.encode(), 0o600)
