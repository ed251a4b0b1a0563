"""The Hypervisor seam implemented with plain QEMU processes, one per guest.

No libvirt: each guest is a daemonized QEMU whose state lives in its instance
dir. Power actions go through QMP; a guest counts as running while its pidfile
names a live QEMU. An agent that restarts finds its guests again from the
instance dirs alone, and never starts a second QEMU for a running guest.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

from gureum.agent.hypervisor import process
from gureum.agent.hypervisor.accel import QEMU_BINARY, Accel, detect_accel
from gureum.agent.hypervisor import hotplug
from gureum.agent.hypervisor.base import (
    DiskSpec,
    DiskSync,
    GuestNotFound,
    GuestSpec,
    Hypervisor,
    HypervisorError,
    ObservedGuest,
    PowerState,
)
from gureum.agent.hypervisor.instance_files import (
    InstancePaths,
    ensure_private_dir,
    instance_paths,
    load_spec,
    save_spec,
)
from gureum.agent.hypervisor.qemu_command import qemu_argv
from gureum.agent.hypervisor.qmp import QmpClient, QmpError

# QEMU's run states (query-status) as Nova power states.
_RUN_STATES = {
    "running": PowerState.RUNNING,
    "paused": PowerState.PAUSED,
    "suspended": PowerState.PAUSED,  # ACPI S3 inside the guest
    "inmigrate": PowerState.PAUSED,
    "postmigrate": PowerState.PAUSED,
    "prelaunch": PowerState.PAUSED,
    "finish-migrate": PowerState.PAUSED,
    "save-vm": PowerState.PAUSED,
    "restore-vm": PowerState.PAUSED,
    "debug": PowerState.PAUSED,
    "io-error": PowerState.PAUSED,
    "watchdog": PowerState.PAUSED,
    "shutdown": PowerState.SHUTDOWN,
    "guest-panicked": PowerState.CRASHED,
    "internal-error": PowerState.CRASHED,
}
_QEMU_START_TIMEOUT_SECONDS = 60.0
_HARD_STOP_SECONDS = 10.0  # for QMP quit, before SIGKILL
_SUSPEND_TIMEOUT_SECONDS = 120.0
_RESIZE_STOP_SECONDS = 30.0
_POWER_BUTTON_REPEAT_SECONDS = 10.0  # nova's clean shutdown retry interval


class QemuHypervisor(Hypervisor):
    def __init__(self, instances_dir: Path, accel: Accel | None = None, qemu_binary: str = QEMU_BINARY,
                 command_prefix: list[str] | None = None) -> None:
        """`accel` None: probe once (result cached in instances_dir/.accel.json).

        `command_prefix` runs QEMU through it, e.g. `ip netns exec HOST`: a guest's taps
        live in the dataplane's host namespace and QEMU opens them by name there.
        """
        self.instances_dir = instances_dir.resolve()
        ensure_private_dir(self.instances_dir)
        self.accel = accel or detect_accel(cache_file=self.instances_dir / ".accel.json")
        self.qemu_binary = qemu_binary
        self.command_prefix = list(command_prefix or [])
        # One action at a time per guest; QMP serves one client anyway.
        self._locks: defaultdict[str, threading.RLock] = defaultdict(threading.RLock)

    @property
    def accelerator(self) -> str:
        return self.accel.value

    # -- lifecycle ---------------------------------------------------------

    def spawn(self, spec: GuestSpec) -> ObservedGuest:
        paths = instance_paths(self.instances_dir, spec.instance_id)
        with self._locks[spec.instance_id]:
            if process.guest_process(paths.pidfile) is not None:
                return self.observe(spec.instance_id)  # already running: adopt, never start twice
            ensure_private_dir(paths.root)
            if spec.config_drive is not None and spec.config_drive != paths.config_drive:
                shutil.copyfile(spec.config_drive, paths.config_drive)
                spec = replace(spec, config_drive=paths.config_drive)
            if spec.root_disk_base is not None and not paths.disk.exists():
                _create_overlay(spec, paths)
            save_spec(paths, spec)
            if paths.memory_state.exists():
                return self._resume_locked(spec.instance_id, paths)
            self._launch(spec, paths)
            return self.observe(spec.instance_id)

    def destroy(self, instance_id: str) -> None:
        paths = instance_paths(self.instances_dir, instance_id)
        with self._locks[instance_id]:
            pid = process.guest_process(paths.pidfile)
            if pid is not None:
                self._stop_hard(pid, paths)
            shutil.rmtree(paths.root, ignore_errors=True)
            if paths.root.exists():
                raise HypervisorError(f"could not remove {paths.root}")

    def start(self, instance_id: str) -> ObservedGuest:
        paths = self._existing_paths(instance_id)
        with self._locks[instance_id]:
            if process.guest_process(paths.pidfile) is not None:
                return self.observe(instance_id)
            if paths.memory_state.exists():
                return self._resume_locked(instance_id, paths)
            self._launch(load_spec(paths), paths)
            return self.observe(instance_id)

    def stop(self, instance_id: str, timeout_seconds: float = 60.0) -> ObservedGuest:
        paths = self._existing_paths(instance_id)
        with self._locks[instance_id]:
            pid = process.guest_process(paths.pidfile)
            if pid is None:
                return self.observe(instance_id)
            graceful = timeout_seconds > 0 and self._observe_live(instance_id, paths, pid).power_state \
                is PowerState.RUNNING  # a paused guest cannot react to the power button
            if graceful and self._stop_gracefully(pid, paths, timeout_seconds):
                return self.observe(instance_id)
            self._stop_hard(pid, paths)
            return self.observe(instance_id)

    def reboot(self, instance_id: str, hard: bool = False, timeout_seconds: float = 60.0) -> ObservedGuest:
        with self._locks[instance_id]:
            self.stop(instance_id, 0 if hard else timeout_seconds)
            paths = self._existing_paths(instance_id)
            paths.memory_state.unlink(missing_ok=True)  # a reboot starts fresh, as in Nova
            return self.start(instance_id)

    # -- pause and suspend -------------------------------------------------

    def pause(self, instance_id: str) -> ObservedGuest:
        return self._qmp_on_running(instance_id, "stop")

    def unpause(self, instance_id: str) -> ObservedGuest:
        return self._qmp_on_running(instance_id, "cont")

    def suspend(self, instance_id: str) -> ObservedGuest:
        paths = self._existing_paths(instance_id)
        with self._locks[instance_id]:
            pid = self._require_process(instance_id, paths)
            partial = paths.memory_state.with_suffix(".partial")
            with partial.open("wb") as state, QmpClient(paths.qmp_socket) as qmp:
                qmp.execute("stop")
                # QEMU may not open files or run commands (seccomp): hand it the fd.
                qmp.execute("getfd", {"fdname": "suspend"}, pass_fd=state.fileno())
                qmp.execute("migrate", {"uri": "fd:suspend"})
                _wait_for_migration(qmp, instance_id)
                qmp.execute("quit")
            if not process.wait_for_exit(pid, paths.pidfile, _HARD_STOP_SECONDS):
                process.kill(pid, paths.pidfile)
            os.replace(partial, paths.memory_state)
            return self.observe(instance_id)

    def resume(self, instance_id: str) -> ObservedGuest:
        paths = self._existing_paths(instance_id)
        with self._locks[instance_id]:
            if process.guest_process(paths.pidfile) is not None:
                return self.observe(instance_id)
            if not paths.memory_state.exists():
                raise HypervisorError(f"guest {instance_id} is not suspended: no saved memory to resume from")
            return self._resume_locked(instance_id, paths)

    # -- size and images ----------------------------------------------------

    def resize(self, instance_id: str, vcpus: int, memory_mib: int, root_disk_gib: int | None) -> ObservedGuest:
        paths = self._existing_paths(instance_id)
        with self._locks[instance_id]:
            was_running = process.guest_process(paths.pidfile) is not None
            if was_running:
                self.stop(instance_id, _RESIZE_STOP_SECONDS)
            spec = replace(load_spec(paths), vcpus=vcpus, memory_mib=memory_mib,
                           root_disk_gib=root_disk_gib or None)
            if root_disk_gib and root_disk_gib * 1024**3 > _virtual_size(paths.disk):
                _run_qemu_img(["resize", "-q", str(paths.disk), f"{root_disk_gib}G"],
                              f"could not grow the disk of guest {instance_id}")
            # Saved memory belongs to the old size: a resized guest boots afresh.
            paths.memory_state.unlink(missing_ok=True)
            save_spec(paths, spec)
            if was_running:
                self._launch(spec, paths)
            return self.observe(instance_id)

    def snapshot(self, instance_id: str, target: Path) -> None:
        paths = self._existing_paths(instance_id)
        with self._locks[instance_id]:
            running = process.guest_process(paths.pidfile) is not None and \
                self.observe(instance_id).power_state is PowerState.RUNNING
            if running:
                # Freeze the vCPUs so the copy is one moment of the disk, then let it go on.
                self._qmp_on_running(instance_id, "stop")
            try:
                # -U: QEMU holds the image lock while the guest exists; reading is safe.
                _run_qemu_img(["convert", "-U", "-q", "-f", "qcow2", "-O", "qcow2", "-c", str(paths.disk), str(target)],
                              f"could not copy the disk of guest {instance_id}")
            finally:
                if running:
                    self._qmp_on_running(instance_id, "cont")

    # -- volumes ---------------------------------------------------------------

    def disks_of(self, instance_id: str) -> list[DiskSpec]:
        return list(load_spec(self._existing_paths(instance_id)).disks)

    def sync_disks(self, instance_id: str, disks: list[DiskSpec]) -> DiskSync:
        paths = self._existing_paths(instance_id)
        with self._locks[instance_id]:
            spec = load_spec(paths)
            if not disks and not spec.disks and not paths.detaching.exists():
                return DiskSync()  # no volumes, none leaving: no need to ask QEMU (every pass, every guest)
            unplugs = _Unplugs.load(paths)
            for old in spec.disks:
                if old.volume_id not in {d.volume_id for d in disks}:
                    unplugs.attachments[old.device_id] = old.attachment_id
            if spec.disks != disks:
                # The next launch builds A; a restarted agent finds it here.
                save_spec(paths, replace(spec, disks=list(disks)))
            if process.guest_process(paths.pidfile) is None:
                # No QEMU, nothing plugged: whatever was unplugging is gone with it.
                paths.detaching.unlink(missing_ok=True)
                return DiskSync(attached=[d.attachment_id for d in disks])
            result = self._sync_live(paths, disks, unplugs)
            unplugs.save(paths)
            return result

    def _sync_live(self, paths: InstancePaths, disks: list[DiskSpec], unplugs: "_Unplugs") -> DiskSync:
        errors: dict[str, str] = {}
        pending: list[str] = []
        wanted = {d.device_id for d in disks}
        with QmpClient(paths.qmp_socket) as qmp:
            seen = hotplug.observe(qmp)
            for device_id, node in seen.devices.items():
                if device_id in wanted:
                    continue
                attachment_id = unplugs.attachments.get(device_id, device_id)
                wait = hotplug.RETRY_UNPLUG_WAIT_SECONDS if device_id in unplugs.asked \
                    else hotplug.FIRST_UNPLUG_WAIT_SECONDS
                try:
                    if not hotplug.detach(qmp, device_id, node, wait):
                        pending.append(attachment_id)
                        unplugs.asked.add(device_id)
                except QmpError as error:
                    errors[attachment_id] = f"could not detach: {error}"
            for disk in disks:
                try:
                    hotplug.attach(qmp, disk, seen)
                except QmpError as error:
                    errors[disk.attachment_id] = f"could not attach: {error}"
            seen = hotplug.observe(qmp)
            in_use = {d.node_name for d in disks} | set(seen.devices.values())
            for node in seen.nodes - in_use:
                try:
                    hotplug.remove_node(qmp, node)  # left by an agent that stopped between the steps
                except QmpError:
                    pass  # still in use by a device being unplugged: next pass
        unplugs.keep_only(set(seen.devices))
        return DiskSync(attached=[d.attachment_id for d in disks if d.device_id in seen.devices],
                        detach_pending=pending, errors=errors)

    def volume_holders(self) -> dict[str, tuple[Path, str]]:
        holders: dict[str, tuple[Path, str]] = {}
        for instance_id in self._instance_ids():
            paths = instance_paths(self.instances_dir, instance_id)
            if process.guest_process(paths.pidfile) is None:
                continue
            try:
                disks = load_spec(paths).disks
            except (OSError, ValueError):
                continue
            for disk in disks:
                if disk.live_owner:
                    holders[disk.volume_id] = (paths.qmp_socket, disk.node_name)
        return holders

    # -- observation -------------------------------------------------------

    def observe(self, instance_id: str) -> ObservedGuest:
        paths = self._existing_paths(instance_id)
        pid = process.guest_process(paths.pidfile)
        if pid is not None:
            return self._observe_live(instance_id, paths, pid)
        state = PowerState.SUSPENDED if paths.memory_state.exists() else PowerState.SHUTDOWN
        return ObservedGuest(instance_id, state, None, paths.root)

    def list_running(self) -> list[ObservedGuest]:
        running = []
        for instance_id in self._instance_ids():
            pid = process.guest_process(self.instances_dir / instance_id / "qemu.pid")
            if pid is not None:
                running.append(self._observe_live(instance_id, instance_paths(self.instances_dir, instance_id),
                                                  pid))
        return running

    def list_guests(self) -> list[ObservedGuest]:
        guests = []
        for instance_id in self._instance_ids():
            try:
                guests.append(self.observe(instance_id))
            except GuestNotFound:  # destroyed while we listed
                continue
        return guests

    def console_log(self, instance_id: str, max_bytes: int = 100 * 1024) -> str:
        paths = self._existing_paths(instance_id)
        try:
            with paths.console_log.open("rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - max_bytes))
                return log.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    # -- internals ---------------------------------------------------------

    def _launch(self, spec: GuestSpec, paths: InstancePaths, incoming_fd: int | None = None) -> int:
        argv = self.command_prefix + qemu_argv(spec, paths, self.accel, incoming_fd, self.qemu_binary)
        paths.pidfile.unlink(missing_ok=True)
        # QEMU daemonizes: this returns once the guest is set up and detached
        # from us (own session), so it lives on when the agent exits.
        result = subprocess.run(argv, capture_output=True, text=True, timeout=_QEMU_START_TIMEOUT_SECONDS,
                                start_new_session=True, pass_fds=() if incoming_fd is None else (incoming_fd,))
        pid = process.guest_process(paths.pidfile)
        if result.returncode != 0 or pid is None:
            detail = result.stderr.strip() or f"exit status {result.returncode}"
            raise HypervisorError(f"QEMU did not start guest {spec.instance_id}: {detail}")
        return pid

    def _resume_locked(self, instance_id: str, paths: InstancePaths) -> ObservedGuest:
        spec = load_spec(paths)
        with paths.memory_state.open("rb") as state:
            self._launch(spec, paths, incoming_fd=state.fileno())
        with QmpClient(paths.qmp_socket) as qmp:
            deadline = time.monotonic() + _SUSPEND_TIMEOUT_SECONDS
            # The guest was paused when saved, so it arrives paused; then let it run.
            while qmp.execute("query-status")["status"] == "inmigrate":
                if time.monotonic() > deadline:
                    raise HypervisorError(f"guest {instance_id} did not finish loading its saved memory")
                time.sleep(0.1)
            qmp.execute("cont")
        paths.memory_state.unlink()
        return self.observe(instance_id)

    def _stop_hard(self, pid: int, paths: InstancePaths) -> None:
        # quit lets QEMU flush the disk cache; SIGKILL is for a QEMU that cannot answer.
        try:
            with QmpClient(paths.qmp_socket, timeout_seconds=5) as qmp:
                qmp.execute("quit")
        except (OSError, QmpError):
            pass
        if not process.wait_for_exit(pid, paths.pidfile, _HARD_STOP_SECONDS):
            process.kill(pid, paths.pidfile)
            if not process.wait_for_exit(pid, paths.pidfile, _HARD_STOP_SECONDS):
                raise HypervisorError(f"QEMU pid {pid} survived SIGKILL")

    def _stop_gracefully(self, pid: int, paths: InstancePaths, timeout_seconds: float) -> bool:
        """Press the power button until the guest is gone or time is up. Pressed
        again every few seconds as Nova does: a guest still booting (no acpid
        yet) misses the first press."""
        deadline = time.monotonic() + timeout_seconds
        while self._power_button(paths):
            remaining = deadline - time.monotonic()
            if process.wait_for_exit(pid, paths.pidfile, max(0.0, min(_POWER_BUTTON_REPEAT_SECONDS, remaining))):
                return True
            if time.monotonic() >= deadline:
                return False
        return process.guest_process(paths.pidfile) is None  # QMP gone: did QEMU just exit?

    def _power_button(self, paths: InstancePaths) -> bool:
        try:
            with QmpClient(paths.qmp_socket) as qmp:
                qmp.execute("system_powerdown")
            return True
        except (OSError, QmpError):
            return False

    def _observe_live(self, instance_id: str, paths: InstancePaths, pid: int) -> ObservedGuest:
        try:
            with QmpClient(paths.qmp_socket, timeout_seconds=5) as qmp:
                status = qmp.execute("query-status")["status"]
            state = _RUN_STATES.get(status, PowerState.NOSTATE)
        except (OSError, QmpError):
            state = PowerState.NOSTATE  # alive but not answering: say so rather than guess
        return ObservedGuest(instance_id, state, pid, paths.root)

    def _qmp_on_running(self, instance_id: str, command: str) -> ObservedGuest:
        paths = self._existing_paths(instance_id)
        with self._locks[instance_id]:
            self._require_process(instance_id, paths)
            with QmpClient(paths.qmp_socket) as qmp:
                qmp.execute(command)
            return self.observe(instance_id)

    def _require_process(self, instance_id: str, paths: InstancePaths) -> int:
        pid = process.guest_process(paths.pidfile)
        if pid is None:
            raise HypervisorError(f"guest {instance_id} is not running; start it first")
        return pid

    def _existing_paths(self, instance_id: str) -> InstancePaths:
        paths = instance_paths(self.instances_dir, instance_id)
        if not paths.spec_file.exists():
            raise GuestNotFound(f"no guest {instance_id} on this node")
        return paths

    def _instance_ids(self) -> list[str]:
        return sorted(entry.name for entry in self.instances_dir.iterdir()
                      if entry.is_dir() and (entry / "spec.json").exists())


def _create_overlay(spec: GuestSpec, paths: InstancePaths) -> None:
    base = spec.root_disk_base.resolve()
    base_format = _image_format(base)
    argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-F", base_format, "-b", str(base), str(paths.disk)]
    if spec.root_disk_gib:
        # Never smaller than the image: qemu-img refuses to shrink below the backing size.
        size = max(spec.root_disk_gib * 1024**3, _virtual_size(base))
        argv.append(str(size))
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        raise HypervisorError(f"could not create the disk of guest {spec.instance_id}: {result.stderr.strip()}")


def _run_qemu_img(args: list[str], failure: str) -> None:
    result = subprocess.run(["qemu-img", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise HypervisorError(f"{failure}: {result.stderr.strip()}")


def _image_info(image: Path) -> dict:
    result = subprocess.run(["qemu-img", "info", "--output=json", str(image)], capture_output=True, text=True)
    if result.returncode != 0:
        raise HypervisorError(f"cannot read image {image}: {result.stderr.strip()}")
    return json.loads(result.stdout)


def _image_format(image: Path) -> str:
    return _image_info(image)["format"]


def _virtual_size(image: Path) -> int:
    return int(_image_info(image)["virtual-size"])


def _wait_for_migration(qmp: QmpClient, instance_id: str) -> None:
    deadline = time.monotonic() + _SUSPEND_TIMEOUT_SECONDS
    while True:
        status = qmp.execute("query-migrate").get("status")
        if status == "completed":
            return
        if status in ("failed", "cancelled"):
            raise HypervisorError(f"saving the memory of guest {instance_id} failed ({status})")
        if time.monotonic() > deadline:
            qmp.execute("migrate_cancel")
            raise HypervisorError(f"saving the memory of guest {instance_id} took too long")
        time.sleep(0.1)



@dataclass
class _Unplugs:
    """Volume devices being unplugged (device id -> attachment id), kept in the instance dir,
    and those already asked once (their guest gets a shorter wait on later passes)."""

    attachments: dict[str, str] = field(default_factory=dict)
    asked: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, paths: InstancePaths) -> "_Unplugs":
        try:
            record = json.loads(paths.detaching.read_text())
            return cls(dict(record["attachments"]), set(record["asked"]))
        except (OSError, ValueError, KeyError):
            return cls()

    def keep_only(self, devices: set[str]) -> None:
        self.attachments = {d: a for d, a in self.attachments.items() if d in devices}
        self.asked &= devices

    def save(self, paths: InstancePaths) -> None:
        if not self.attachments and not self.asked:
            paths.detaching.unlink(missing_ok=True)
            return
        temporary = paths.detaching.with_name(".detaching.json.tmp")
        temporary.write_text(json.dumps({"attachments": self.attachments, "asked": sorted(self.asked)}))
        os.replace(temporary, paths.detaching)
