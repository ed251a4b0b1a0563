"""Where one guest's files live on the node: one private directory per instance.

Everything QEMU needs and leaves is in there (overlay disk, config drive,
sockets, pidfile, console log, saved spec), so destroying a guest is removing
one directory, and an agent that restarts finds its guests by listing them.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from gureum.agent.hypervisor.base import DiskSpec, GuestSpec, HypervisorError, NicSpec

# Instance ids become directory names: no separators, no dot-dot, no surprises.
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# sockaddr_un.sun_path is 108 bytes including the terminating NUL.
_UNIX_SOCKET_PATH_MAX = 107
PRIVATE_DIR_MODE = 0o700


@dataclass(frozen=True)
class InstancePaths:
    root: Path

    @property
    def disk(self) -> Path:
        return self.root / "disk"  # qcow2 overlay over the image

    @property
    def config_drive(self) -> Path:
        return self.root / "disk.config"

    @property
    def console_log(self) -> Path:
        return self.root / "console.log"

    @property
    def console_socket(self) -> Path:
        return self.root / "console.sock"

    @property
    def qmp_socket(self) -> Path:
        return self.root / "qmp.sock"

    @property
    def pidfile(self) -> Path:
        return self.root / "qemu.pid"

    @property
    def spec_file(self) -> Path:
        return self.root / "spec.json"

    @property
    def detaching(self) -> Path:
        return self.root / "detaching.json"  # device id -> attachment id of unplugs under way

    @property
    def memory_state(self) -> Path:
        return self.root / "memory.state"  # a suspended guest's RAM and devices


def instance_paths(instances_dir: Path, instance_id: str) -> InstancePaths:
    if not _SAFE_ID.match(instance_id):
        raise HypervisorError(f"instance id {instance_id!r} is not usable as a directory name")
    paths = InstancePaths(instances_dir / instance_id)
    for socket_path in (paths.qmp_socket, paths.console_socket):
        if len(str(socket_path).encode()) > _UNIX_SOCKET_PATH_MAX:
            raise HypervisorError(
                f"{socket_path} is longer than a unix socket path may be; use a shorter instances_dir"
            )
    return paths


def ensure_private_dir(path: Path) -> None:
    """Create `path` as ours with mode 0700, or check an existing one is ours and tighten it.

    Instance dirs hold console logs (user data output, host keys) and disks."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.geteuid():
        raise HypervisorError(f"{path} belongs to uid {info.st_uid}, not to the agent (uid {os.geteuid()})")
    if stat.S_IMODE(info.st_mode) != PRIVATE_DIR_MODE:
        path.chmod(PRIVATE_DIR_MODE)


def save_spec(paths: InstancePaths, spec: GuestSpec) -> None:
    record = asdict(spec)
    for key, value in record.items():
        if isinstance(value, Path):
            record[key] = str(value)
    temporary = paths.spec_file.with_name(".spec.json.tmp")
    temporary.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(temporary, paths.spec_file)


def load_spec(paths: InstancePaths) -> GuestSpec:
    record = json.loads(paths.spec_file.read_text())
    for key in ("root_disk_base", "kernel", "initrd", "config_drive"):
        if record.get(key) is not None:
            record[key] = Path(record[key])
    record["nics"] = [NicSpec(**nic) for nic in record.get("nics", [])]
    record["disks"] = [DiskSpec(**disk) for disk in record.get("disks", [])]
    return GuestSpec(**record)
