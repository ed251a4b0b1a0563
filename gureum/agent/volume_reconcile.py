"""Make this host's volumes match the desired state, one operation at a time per volume.

Level-triggered like the guests: a desired volume that is missing is made from its
source; one that is smaller is grown; its snapshot ids are taken or deleted until
they match; a volume held here that nobody wants is deleted. One-shot actions (revert,
uploads) are counters and ids remembered in a ledger beside the volumes, so each runs
once across restarts. Slow steps (image -> volume, clones, uploads) run as jobs beside
the serial pass (gureum/agent/jobs.py: one per volume, backoff when one fails, a pass
woken when one ends); a volume with a step under way is left alone.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from gureum.agent.client import ControllerClient
from gureum.agent.imagecache import ImageCache
from gureum.agent.jobs import Failed, JobQueue
from gureum.agent.protocol import (
    DesiredExport,
    DesiredVolume,
    DesiredVolumeUpload,
    ObservedBackend,
    ObservedVolume,
)
from gureum.agent.storage import (
    GIB,
    LiveOwner,
    VolumeBackend,
    VolumeError,
    VolumeSourceError,
    VolumeState,
)
from gureum.agent.storage.nbd_export import ExportsSeen, NbdExporter

log = logging.getLogger(__name__)

OwnerLookup = Callable[[str], "LiveOwner | None"]


@dataclass
class VolumeLedger:
    revert_count: int = 0
    uploads_done: list[str] = field(default_factory=list)
    uploads_failed: dict[str, str] = field(default_factory=dict)
    # A source that can never fit: kept until the volume is deleted, never retried.
    source_error: str | None = None


class LedgerStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, volume_id: str) -> Path:
        return self.directory / f"{volume_id}.json"

    def load(self, volume_id: str) -> VolumeLedger:
        try:
            data = json.loads(self._path(volume_id).read_text())
        except (OSError, ValueError):
            return VolumeLedger()
        return VolumeLedger(**{k: v for k, v in data.items() if k in VolumeLedger.__dataclass_fields__})

    def save(self, volume_id: str, ledger: VolumeLedger) -> None:
        path = self._path(volume_id)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(json.dumps(asdict(ledger)))
        os.replace(temporary, path)

    def forget(self, volume_id: str) -> None:
        self._path(volume_id).unlink(missing_ok=True)

    def known(self) -> set[str]:
        return {p.stem for p in self.directory.glob("*.json")}


class VolumeReconciler:
    def __init__(self, backends: dict[str, VolumeBackend], images: ImageCache, client: ControllerClient,
                 ledger: LedgerStore, scratch_dir: Path, owner_of: OwnerLookup,
                 exporter: NbdExporter | None = None, jobs: JobQueue | None = None) -> None:
        self.backends = backends
        self.images = images
        self.client = client
        self.ledger = ledger
        self.scratch_dir = scratch_dir
        scratch_dir.mkdir(parents=True, exist_ok=True)
        self.owner_of = owner_of
        # Serves this host's volumes to guests on other hosts (None: not a storage host).
        self.exporter = exporter
        self.exports = ExportsSeen([], {})
        self._busy: set[str] = set()
        self._busy_lock = threading.Lock()
        self.jobs = jobs or JobQueue(lambda: None)
        self.errors: dict[str, str] = {}
        # What the last pass saw, reported by the heartbeat without asking QEMU again.
        self._seen: dict[str, VolumeState] = {}
        self._seen_lock = threading.Lock()
        self._wanted: dict[str, DesiredVolume] = {}

    # -- the pass -------------------------------------------------------------------

    def apply(self, volumes: list[DesiredVolume], exports: list[DesiredExport] | None = None) -> None:
        """Create, grow and snapshot the wanted volumes (before guests attach them), then
        serve the exports of those that exist."""
        self._wanted = {v.id: v for v in volumes}
        for volume in volumes:
            if not self._claim(volume.id):
                continue
            try:
                self._converge(volume)
            except Exception as exc:  # noqa: BLE001 - one broken volume must not stop the others
                self._fail(volume.id, exc)
            finally:
                self._release(volume.id)
        if self.exporter is not None:
            held = {v for b in self.backends.values() for v in b.list_volumes()}
            ready = [e for e in exports or [] if e.volume_id in held]
            try:
                seen = self.exporter.apply(ready)
                self.exports = ExportsSeen(seen.up, {**seen.errors, **{
                    e.attachment_id: f"volume {e.volume_id} is not on this host (yet)"
                    for e in exports or [] if e.volume_id not in held}})
            except Exception as exc:  # noqa: BLE001 - guests of this host are not affected
                log.warning("nbd exports: %s", _plain(exc))
                self.exports = ExportsSeen([], {"nbd": _plain(exc)})

    def remove_unwanted(self) -> None:
        """Delete what nobody wants (after guests released what they detached)."""
        for backend in self.backends.values():
            for volume_id in backend.list_volumes():
                if volume_id in self._wanted or not self._claim(volume_id):
                    continue
                try:
                    if self.owner_of(volume_id) is not None:
                        raise VolumeError("the volume is still attached to a guest on this host; "
                                          "it is deleted once the guest releases it")
                    log.info("volume %s is no longer wanted here: deleting it", volume_id)
                    backend.delete(volume_id)
                    self.ledger.forget(volume_id)
                    self.errors.pop(volume_id, None)
                    with self._seen_lock:
                        self._seen.pop(volume_id, None)
                except Exception as exc:  # noqa: BLE001
                    self._fail(volume_id, exc)
                finally:
                    self._release(volume_id)
        for volume_id in self.ledger.known() - set(self._wanted):
            if not any(volume_id in b.list_volumes() for b in self.backends.values()):
                self.ledger.forget(volume_id)
                self.errors.pop(volume_id, None)

    def _converge(self, want: DesiredVolume) -> None:
        backend = self._backend(want)
        ledger = self.ledger.load(want.id)
        owner = self.owner_of(want.id)
        state = backend.state(want.id, owner)
        if state is None:
            if ledger.source_error is None:
                self._create(want, backend)
            return
        size = want.size_gb * GIB
        # Snapshots first: a revert goes to the latest one, which must exist by then.
        for snapshot_id in want.snapshots:
            if snapshot_id not in state.snapshots:
                backend.create_snapshot(want.id, snapshot_id, owner)
        if want.revert_count > ledger.revert_count:
            if owner is not None:
                raise VolumeError("revert needs the volume detached (its guest still holds it)")
            backend.revert(want.id, want.revert_snapshot_id)
            ledger.revert_count = want.revert_count
            self.ledger.save(want.id, ledger)
        state = backend.state(want.id, owner) or state
        for snapshot_id in state.snapshots:
            if snapshot_id not in want.snapshots:
                backend.delete_snapshot(want.id, snapshot_id, owner)
        if size > state.size_bytes:
            backend.extend(want.id, size, owner)
        self._remember(want.id, backend.state(want.id, owner))
        self.errors.pop(want.id, None)
        for upload in want.uploads:
            if upload.image_id not in ledger.uploads_done and upload.image_id not in ledger.uploads_failed:
                self._in_background(want.id, f"upload {upload.image_id}", lambda u=upload: self._upload(want, u))
                break  # one at a time per volume

    def _create(self, want: DesiredVolume, backend: VolumeBackend) -> None:
        size = want.size_gb * GIB
        source = want.source
        if source.kind == "":
            backend.create_empty(want.id, size)
            self._remember(want.id, backend.state(want.id, None))
            return
        if source.kind == "image":
            job = lambda: backend.create_from_image(want.id, self.images.ensure(source.id), size)  # noqa: E731
        elif source.kind == "snapshot":
            job = lambda: backend.create_from_snapshot(  # noqa: E731
                want.id, source.volume_id, source.id, size, self.owner_of(source.volume_id))
        elif source.kind == "volume":
            job = lambda: backend.create_from_volume(  # noqa: E731
                want.id, source.id, size, self.owner_of(source.id))
        elif source.kind == "backup":
            raise VolumeError("restoring a backup is not implemented on this agent yet")
        else:
            raise VolumeSourceError(f"unknown volume source {source.kind!r}")

        def create() -> None:
            job()
            self._remember(want.id, backend.state(want.id, None))
        self._in_background(want.id, f"create from {source.kind} {source.id}", create)

    def _upload(self, want: DesiredVolume, upload: DesiredVolumeUpload) -> None:
        backend = self._backend(want)
        ledger = self.ledger.load(want.id)
        with tempfile.TemporaryDirectory(dir=self.scratch_dir, prefix="volume-upload-") as scratch:
            target = Path(scratch) / f"image.{upload.disk_format}"
            try:
                backend.export_image(want.id, target, upload.disk_format, self.owner_of(want.id))
                self.client.upload_snapshot(upload.image_id, want.project_id, target)
            except Exception as exc:  # noqa: BLE001 - the volume itself is fine
                ledger.uploads_failed[upload.image_id] = _plain(exc)
            else:
                ledger.uploads_done = [*ledger.uploads_done, upload.image_id][-50:]
        self.ledger.save(want.id, ledger)

    # -- background steps -----------------------------------------------------------------

    def _in_background(self, volume_id: str, name: str, job: Callable[[], None]) -> None:
        def work(cancel: threading.Event) -> None:
            del cancel  # a volume step ends on its own; a delete waits for it (the volume is busy)
            job()
        outcome = self.jobs.ensure(_job_key(volume_id), name, work)
        if isinstance(outcome, Failed):
            self._fail(volume_id, outcome.error)  # retried after the key's backoff

    def _claim(self, volume_id: str) -> bool:
        with self._busy_lock:
            if self.busy(volume_id) or volume_id in self._busy:
                return False
            self._busy.add(volume_id)
            return True

    def _release(self, volume_id: str) -> None:
        with self._busy_lock:
            self._busy.discard(volume_id)

    def busy(self, volume_id: str) -> bool:
        return self.jobs.running(_job_key(volume_id)) is not None

    def wait_idle(self, timeout_seconds: float = 600) -> None:
        """For tests: let the volume steps under way finish."""
        deadline = time.monotonic() + timeout_seconds
        while any(key.startswith("volume:") for key in self.jobs.names()):
            if time.monotonic() > deadline:
                raise TimeoutError("volume steps still running")
            time.sleep(0.1)

    def close(self) -> None:
        for key in self.jobs.names():
            if key.startswith("volume:"):
                self.jobs.cancel(key)

    # -- what to report ---------------------------------------------------------------------

    def observe(self) -> list[ObservedVolume]:
        with self._seen_lock:
            seen = dict(self._seen)
        held = {v for b in self.backends.values() for v in b.list_volumes()}
        report = []
        for volume_id in sorted(held | set(self._wanted)):
            state = seen.get(volume_id) if volume_id in held else None
            ledger = self.ledger.load(volume_id)
            report.append(ObservedVolume(
                id=volume_id, present=volume_id in held,
                size_gb=(state.size_bytes + GIB - 1) // GIB if state else 0,
                allocated_bytes=state.allocated_bytes if state else 0,
                snapshots=list(state.snapshots) if state else [],
                revert_count=ledger.revert_count, uploads_done=list(ledger.uploads_done),
                uploads_failed=dict(ledger.uploads_failed),
                error=ledger.source_error or self.errors.get(volume_id), busy=self.busy(volume_id)))
        return report

    def observe_backends(self) -> list[ObservedBackend]:
        report = []
        for name, backend in sorted(self.backends.items()):
            try:
                usage = backend.usage()
                error = getattr(backend, "reason", None)
                report.append(ObservedBackend(name, usage.total_bytes, usage.free_bytes, error))
            except Exception as exc:  # noqa: BLE001
                report.append(ObservedBackend(name, error=_plain(exc)))
        return report

    # -- internals --------------------------------------------------------------------------

    def _backend(self, want: DesiredVolume) -> VolumeBackend:
        backend = self.backends.get(want.backend)
        if backend is None:
            raise VolumeError(f"this host has no {want.backend!r} volume backend "
                              f"(it has {', '.join(sorted(self.backends)) or 'none'})")
        return backend

    def _remember(self, volume_id: str, state: VolumeState | None) -> None:
        with self._seen_lock:
            if state is None:
                self._seen.pop(volume_id, None)
            else:
                self._seen[volume_id] = state

    def _fail(self, volume_id: str, exc: BaseException) -> None:
        message = _plain(exc)
        log.warning("volume %s: %s", volume_id, message)
        if isinstance(exc, VolumeSourceError):
            ledger = self.ledger.load(volume_id)
            ledger.source_error = message
            self.ledger.save(volume_id, ledger)
        else:
            self.errors[volume_id] = message


def _plain(exc: BaseException) -> str:
    if isinstance(exc, VolumeError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _job_key(volume_id: str) -> str:
    return f"volume:{volume_id}"
