"""Pick kernel modules from the unpacked kernel package and order them for insmod.

The Debian kernel .deb ships no modules.dep (depmod runs at install time), and
busybox insmod does not resolve dependencies, so the guest loads a list that is
already in dependency order, computed here with `modinfo -F depends`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


class ModuleError(RuntimeError):
    """A wanted module is missing from the kernel package."""


def kernel_release(kernel_root: Path) -> str:
    """The single release directory under lib/modules, e.g. 6.1.0-56-cloud-amd64."""
    releases = sorted(p.name for p in (kernel_root / "lib" / "modules").iterdir() if p.is_dir())
    if len(releases) != 1:
        raise ModuleError(f"expected one kernel release in {kernel_root}, found {releases}")
    return releases[0]


def modules_in_load_order(kernel_root: Path, wanted: list[str]) -> list[Path]:
    """`wanted` plus everything they depend on, each after its dependencies."""
    release = kernel_release(kernel_root)
    by_name = _index_modules(kernel_root / "lib" / "modules" / release / "kernel")
    ordered: list[str] = []
    for name in wanted:
        _visit(name, by_name, ordered, chain=[])
    return [by_name[name] for name in ordered]


def module_name(path: Path) -> str:
    # The kernel treats - and _ in module names alike; files use either.
    return path.name.removesuffix(".ko").replace("-", "_")


def _index_modules(modules_dir: Path) -> dict[str, Path]:
    return {module_name(path): path for path in modules_dir.rglob("*.ko")}


def _visit(name: str, by_name: dict[str, Path], ordered: list[str], chain: list[str]) -> None:
    name = name.replace("-", "_")
    if name in ordered:
        return
    if name in chain:
        raise ModuleError(f"module dependency cycle: {' -> '.join(chain + [name])}")
    if name not in by_name:
        raise ModuleError(f"kernel module {name} is not in the kernel package (built in, or renamed?)")
    for dependency in _depends(by_name[name]):
        _visit(dependency, by_name, ordered, chain + [name])
    ordered.append(name)


def _depends(module: Path) -> list[str]:
    result = subprocess.run(["modinfo", "-F", "depends", str(module)], capture_output=True, text=True)
    if result.returncode != 0:
        raise ModuleError(f"modinfo {module}: {result.stderr.strip()}")
    return [name for name in result.stdout.strip().split(",") if name]
