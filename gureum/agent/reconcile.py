"""Make this node match its desired state, one instance at a time, idempotently.

Every step checks what is already true before acting, so running it twice, or
after a crash halfway through, converges to the same node. Slow work (fetching
an image, taking and uploading a snapshot) runs beside the pass as a job keyed
by the instance (gureum/agent/jobs.py): the pass leaves an instance with a job
in flight alone, converges every other one, and the job's end wakes a pass.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gureum.agent.applied import Applied, AppliedStore
from gureum.agent.client import ControllerClient
from gureum.agent.hypervisor import (
    DiskSync,
    GuestNotFound,
    GuestSpec,
    Hypervisor,
    HypervisorError,
    NicSpec,
    ObservedGuest,
    PowerState,
    build_config_drive,
)
from gureum.agent.dataplane import Dataplane, NetworkObservation
from gureum.agent.imagecache import ImageCache
from gureum.agent.jobs import Cancelled, Done, Failed, JobQueue
from gureum.agent.metadata_index import MetadataIndex, metadata_of
from gureum.agent.protocol import DesiredHostState, DesiredInstance, ObservedInstance
from gureum.agent.volume_attachments import GuestVolumes
from gureum.agent.volume_reconcile import VolumeReconciler

log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 30.0
CONSOLE_TAIL_BYTES = 100 * 1024


@dataclass
class NodeMemory:
    """What the agent remembers between passes: errors to report and console tails sent."""

    errors: dict[str, str] = field(default_factory=dict)
    snapshot_failures: dict[str, dict[str, str]] = field(default_factory=dict)
    console_sent: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Reconciler:
    def __init__(self, hypervisor: Hypervisor, images: ImageCache, applied: AppliedStore,
                 client: ControllerClient, scratch_dir: Path, dataplane: Dataplane,
                 metadata: MetadataIndex, wake: Callable[[], None] = lambda: None,
                 volumes: VolumeReconciler | None = None, guest_volumes: GuestVolumes | None = None) -> None:
        """`wake` asks for a pass soon: a job beside the pass ended."""
        self.hv = hypervisor
        # Block storage: this host's volumes, and its guests' attachments (None: no volumes here).
        self.volumes = volumes
        self.guest_volumes = guest_volumes
        self.dataplane = dataplane
        self.metadata = metadata
        # What the dataplane built on the last pass: reported as port and floating IP status.
        self.network = NetworkObservation()
        self.images = images
        self.applied = applied
        self.client = client
        self.scratch_dir = scratch_dir
        scratch_dir.mkdir(parents=True, exist_ok=True)
        self.memory = NodeMemory()
        self.jobs = JobQueue(wake)
        # No job runs yet: whatever scratch holds was left by an agent that stopped mid-way.
        for leftover in scratch_dir.iterdir():
            _remove_path(leftover)

    # -- the pass -----------------------------------------------------------

    def reconcile(self, desired: DesiredHostState) -> None:
        wanted = {i.uuid: i for i in desired.instances}
        self.metadata.update(desired.instances)
        # Networks first: a guest's taps must exist before QEMU opens them.
        try:
            self.network = self.dataplane.apply(desired.networking)
        except Exception as exc:  # noqa: BLE001 - guests without networking still run
            log.warning("dataplane: %s", _plain(exc))
            self.network = NetworkObservation(errors={"dataplane": _plain(exc)})
        # Volumes before guests: a disk must exist before QEMU opens it.
        if self.volumes is not None:
            self.volumes.apply(desired.volumes, desired.exports)
        for instance in desired.instances:
            try:
                self.converge(instance)
                self.memory.errors.pop(instance.uuid, None)
            except Exception as exc:  # noqa: BLE001 - one broken guest must not stop the others
                message = _plain(exc)
                log.warning("instance %s: %s", instance.uuid, message)
                self.memory.errors[instance.uuid] = message
        present = {g.instance_id for g in self.hv.list_guests()} | self.applied.known()
        for instance_uuid in (present | self.jobs.keys()) - set(wanted):
            if self.jobs.running(instance_uuid):
                # Stop its job first; its end wakes the pass that removes the rest.
                self.jobs.cancel(instance_uuid)
                continue
            self.jobs.cancel(instance_uuid)
            self._forget_scratch(instance_uuid)
            if instance_uuid not in present:
                continue
            try:
                log.info("instance %s is no longer wanted here: destroying it", instance_uuid)
                self.hv.destroy(instance_uuid)
                self.applied.forget(instance_uuid)
                self.memory.errors.pop(instance_uuid, None)
                self.memory.console_sent.pop(instance_uuid, None)
                self.memory.snapshot_failures.pop(instance_uuid, None)
            except Exception as exc:  # noqa: BLE001
                self.memory.errors[instance_uuid] = f"could not remove the guest: {_plain(exc)}"
        # Volumes last: a guest that detached or went away has released them by now.
        if self.volumes is not None:
            self.volumes.remove_unwanted()
        self._prune_images(desired)

    def _prune_images(self, desired: DesiredHostState) -> None:
        """Keep the images a desired instance needs, and the bases of every overlay still on the node."""
        in_use = {i.image_id for i in desired.instances}
        in_use |= {v.source.id for v in desired.volumes if v.source.kind == "image"}  # volumes being made
        for instance_uuid in self.applied.known():
            done = self.applied.load(instance_uuid)
            if done is not None:
                in_use.add(done.image_id)
        try:
            for image_id in self.images.prune(in_use):
                log.info("image %s is no longer used here: dropped from the cache", image_id)
        except OSError as exc:
            log.warning("image cache: %s", exc)

    def converge(self, want: DesiredInstance) -> None:
        if self.jobs.running(want.uuid):
            return  # its slow work is in flight; the pass that job wakes takes over
        done = self.applied.load(want.uuid)
        guest = self._observe(want.uuid)
        if guest is None or done is None or want.rebuild_count > done.rebuild_count:
            # Boot from volume: no image, no root disk; the volume with boot_index 0 is the disk.
            base = self._image(want) if want.image_id else None
            if base is None and want.image_id:
                return  # still fetching: reported as building
            self._build(want, base, rebuild=guest is not None)
            done = self.applied.load(want.uuid)
            guest = self._observe(want.uuid)
            assert done is not None and guest is not None
        if want.resize_count > done.resize_count:
            self._resize(want, done)
            guest = self._observe(want.uuid)
        if want.reboot_count > done.reboot_count:
            if want.power == "running":
                self.hv.reboot(want.uuid, hard=want.reboot_hard, timeout_seconds=STOP_TIMEOUT_SECONDS)
            done.reboot_count = want.reboot_count
            self.applied.save(want.uuid, done)
            guest = self._observe(want.uuid)
        failed = self.memory.snapshot_failures.get(want.uuid, {})
        for snapshot in want.snapshots:
            if snapshot.image_id not in done.snapshots_done and snapshot.image_id not in failed:
                if not self._snapshot(want, snapshot.image_id, done):
                    return  # uploading beside the pass; power follows once it is through
        assert guest is not None
        if self.guest_volumes is not None:
            self.guest_volumes.sync(want)  # before power: a guest starting launches with its volumes
        self._set_power(want, guest)

    # -- steps -----------------------------------------------------------------

    def _observe(self, instance_uuid: str) -> ObservedGuest | None:
        try:
            return self.hv.observe(instance_uuid)
        except GuestNotFound:
            return None

    def _image(self, want: DesiredInstance) -> Path | None:
        """The instance's image in the cache, or None while a job fetches it."""
        base = self.images.ready(want.image_id)
        if base is not None:
            return base
        outcome = self.jobs.ensure(want.uuid, f"fetch image {want.image_id}",
                                   lambda cancel: self.images.ensure(want.image_id, cancel))
        if isinstance(outcome, Failed):
            raise outcome.error
        return outcome.value if isinstance(outcome, Done) else None

    def _build(self, want: DesiredInstance, base: Path | None, rebuild: bool) -> None:
        """Create (or re-create, for rebuild) the guest from its image; it starts running."""
        if rebuild:
            self.hv.destroy(want.uuid)
        spec = GuestSpec(
            instance_id=want.uuid,
            name=want.name,
            vcpus=want.vcpus,
            memory_mib=want.memory_mb,
            root_disk_base=base,
            root_disk_gib=want.root_gb or None,
            config_drive=self._config_drive(want) if want.config_drive else None,
            nics=[NicSpec(mac=nic.mac, tap=self.dataplane.tap_name(nic.port_id), mtu=nic.mtu) for nic in want.nics],
            disks=self.guest_volumes.disks(want)[0] if self.guest_volumes is not None else [],
        )
        try:
            self.hv.spawn(spec)
        finally:
            self._forget_scratch(want.uuid)  # spawn copied the config drive into the instance dir
        self.applied.save(
            want.uuid,
            Applied(reboot_count=want.reboot_count, rebuild_count=want.rebuild_count,
                    resize_count=want.resize_count, image_id=want.image_id, vcpus=want.vcpus,
                    memory_mb=want.memory_mb, root_gb=want.root_gb),
        )

    def _config_drive(self, want: DesiredInstance) -> Path:
        target = self.scratch_dir / f"{want.uuid}.config.iso"
        return build_config_drive(metadata_of(want), target)

    def _resize(self, want: DesiredInstance, done: Applied) -> None:
        self.hv.resize(want.uuid, vcpus=want.vcpus, memory_mib=want.memory_mb, root_disk_gib=want.root_gb)
        done.resize_count = want.resize_count
        done.vcpus, done.memory_mb, done.root_gb = want.vcpus, want.memory_mb, want.root_gb
        self.applied.save(want.uuid, done)

    def _snapshot(self, want: DesiredInstance, image_id: str, done: Applied) -> bool:
        """Take and upload one snapshot as a job; True once it ended (done or failed)."""
        outcome = self.jobs.ensure(want.uuid, f"snapshot {image_id}",
                                   lambda cancel: self._take_snapshot(want, image_id, cancel))
        if isinstance(outcome, Failed):
            # Reported; the controller drops the request and its image. The guest itself is fine.
            self.memory.snapshot_failures.setdefault(want.uuid, {})[image_id] = _plain(outcome.error)
            return True
        if not isinstance(outcome, Done):
            return False
        done.snapshots_done = [*done.snapshots_done, image_id][-50:]
        self.applied.save(want.uuid, done)
        return True

    def _take_snapshot(self, want: DesiredInstance, image_id: str, cancel: threading.Event) -> None:
        with tempfile.TemporaryDirectory(dir=self.scratch_dir, prefix="snapshot-") as scratch:
            target = Path(scratch) / "snapshot.qcow2"
            self.hv.snapshot(want.uuid, target)
            if cancel.is_set():
                raise Cancelled(f"snapshot {image_id} stopped: the instance is no longer wanted")
            self.client.upload_snapshot(image_id, want.project_id, target, cancel)

    def _forget_scratch(self, instance_uuid: str) -> None:
        """What building this instance left in scratch (its config drive)."""
        for leftover in self.scratch_dir.glob(f"{instance_uuid}.*"):
            _remove_path(leftover)

    def _set_power(self, want: DesiredInstance, guest: ObservedGuest) -> None:
        state = guest.power_state
        if want.power == "running":
            if state is PowerState.PAUSED:
                self.hv.unpause(want.uuid)
            elif state is PowerState.SUSPENDED:
                self.hv.resume(want.uuid)
            elif state in (PowerState.SHUTDOWN, PowerState.CRASHED, PowerState.NOSTATE):
                self.hv.start(want.uuid)
        elif want.power == "stopped":
            if state in (PowerState.RUNNING, PowerState.PAUSED):
                self.hv.stop(want.uuid, STOP_TIMEOUT_SECONDS)
            elif state is PowerState.SUSPENDED:
                self.hv.resume(want.uuid)
                self.hv.stop(want.uuid, 0)
        elif want.power in ("paused", "suspended"):
            target = PowerState.PAUSED if want.power == "paused" else PowerState.SUSPENDED
            if state is target:
                return
            if state is PowerState.PAUSED:
                self.hv.unpause(want.uuid)
            elif state is PowerState.SUSPENDED:
                self.hv.resume(want.uuid)
            elif state is not PowerState.RUNNING:
                self.hv.start(want.uuid)
            if target is PowerState.PAUSED:
                self.hv.pause(want.uuid)
            else:
                self.hv.suspend(want.uuid)

    # -- what to report ------------------------------------------------------------------

    def observe_all(self) -> list[ObservedInstance]:
        seen: list[ObservedInstance] = []
        guests = {g.instance_id: g for g in self.hv.list_guests()}
        activity = self.jobs.names()
        for instance_uuid in set(guests) | self.applied.known() | set(self.memory.errors) | set(activity):
            guest = guests.get(instance_uuid)
            done = self.applied.load(instance_uuid) or Applied()
            disks = self.guest_volumes.last(instance_uuid) if self.guest_volumes and guest else DiskSync()
            seen.append(
                ObservedInstance(
                    uuid=instance_uuid,
                    power_state=guest.power_state.value if guest else 0,
                    present=guest is not None,
                    reboot_count=done.reboot_count,
                    rebuild_count=done.rebuild_count,
                    resize_count=done.resize_count,
                    snapshots_done=list(done.snapshots_done),
                    snapshots_failed=dict(self.memory.snapshot_failures.get(instance_uuid, {})),
                    error=self.memory.errors.get(instance_uuid),
                    console_tail=self._console_if_changed(instance_uuid) if guest else None,
                    activity=activity.get(instance_uuid),
                    volumes_attached=list(disks.attached),
                    detach_pending=list(disks.detach_pending),
                    volume_errors=dict(disks.errors),
                )
            )
        return seen

    def _console_if_changed(self, instance_uuid: str) -> str | None:
        try:
            text = self.hv.console_log(instance_uuid, CONSOLE_TAIL_BYTES)
        except (GuestNotFound, OSError):
            return None
        fingerprint = hash(text)
        if self.memory.console_sent.get(instance_uuid) == fingerprint:
            return None
        self.memory.console_sent[instance_uuid] = fingerprint
        return text


def _remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _plain(exc: BaseException) -> str:
    """The words an operator needs: what failed, not a traceback."""
    if isinstance(exc, HypervisorError):
        return str(exc)
    if isinstance(exc, subprocess.CalledProcessError):
        return f"{exc.cmd[0] if isinstance(exc.cmd, list) else exc.cmd} failed: {(exc.stderr or '').strip()[:500]}"
    return f"{type(exc).__name__}: {exc}"
