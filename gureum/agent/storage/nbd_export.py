"""This host's volumes served to guests on other hosts: one qemu-storage-daemon, NBD over TLS-PSK.

The daemon outlives the agent (daemonized, found again by its pidfile, as guests are)
and is driven over its QMP monitor, level-triggered: one `tls-creds-psk` object whose
key file lists every client host's identity and key (GnuTLS reads it at each handshake,
so a new client needs no restart), one NBD server on the storage address, one block
node per exported volume and one export per attachment, named after the attachment id.
A client without the right key cannot open anything: "TLS handshake failed".
While it exports a volume, the daemon is the volume's owner: its snapshots and
resizes go through it (it holds the qcow2's write lock).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from gureum.agent.hypervisor.qmp import QmpClient, QmpError
from gureum.agent.protocol import DesiredExport
from gureum.agent.storage.base import LiveOwner, VolumeBackend, VolumeError, node_name

NBD_PORT = 10809
_START_TIMEOUT_SECONDS = 30.0
_TLS_ID = "tls-nbd"
# QEMU ids start with a letter; attachment ids (uuids) may not. The NBD export *name* is the bare id.
_EXPORT_PREFIX = "e-"


def _exports(qmp: QmpClient) -> dict[str, str]:
    """Attachment id -> node name of every export the daemon serves."""
    return {e["id"][len(_EXPORT_PREFIX):]: e["node-name"] for e in qmp.execute("query-block-exports")
            if e["id"].startswith(_EXPORT_PREFIX)}


@dataclass(frozen=True)
class ExportsSeen:
    up: list[str]
    errors: dict[str, str]


class NbdExporter:
    def __init__(self, state_dir: Path, backend: VolumeBackend, listen_host: str, port: int = NBD_PORT,
                 command_prefix: list[str] | None = None) -> None:
        self.dir = state_dir.resolve()
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.backend = backend
        self.listen_host = listen_host
        self.port = port
        self.command_prefix = list(command_prefix or [])
        self.exported_volumes: dict[str, str] = {}  # volume id -> node name, as last seen
        self.last = ExportsSeen([], {})

    @property
    def qmp_socket(self) -> Path:
        return self.dir / "qmp.sock"

    @property
    def pidfile(self) -> Path:
        return self.dir / "qsd.pid"

    @property
    def address(self) -> str:
        return f"{self.listen_host}:{self.port}" if self.running() else ""

    def owner_of(self, volume_id: str) -> LiveOwner | None:
        node = self.exported_volumes.get(volume_id)
        return LiveOwner(self.qmp_socket, node) if node and self.running() else None

    # -- the pass ---------------------------------------------------------------------

    def apply(self, exports: list[DesiredExport]) -> ExportsSeen:
        if not exports and not self.running():
            self.exported_volumes = {}
            self.last = ExportsSeen([], {})
            return self.last
        self._write_keys(exports)
        if not self.running():
            self._start()
        errors: dict[str, str] = {}
        with QmpClient(self.qmp_socket) as qmp:
            self._ensure_server(qmp)
            current = _exports(qmp)
            wanted = {e.attachment_id: e for e in exports}
            for export_id in set(current) - set(wanted):
                try:
                    qmp.execute("block-export-del", {"id": _EXPORT_PREFIX + export_id, "mode": "hard"})
                except QmpError as error:
                    errors[export_id] = f"could not stop the export: {error}"
            nodes = {n["node-name"] for n in qmp.execute("query-named-block-nodes", {"flat": True})}
            for export in exports:
                if export.attachment_id in current:
                    continue
                node = node_name(export.volume_id)
                try:
                    if node not in nodes:
                        qmp.execute("blockdev-add", {**self.backend.blockdev(export.volume_id), "node-name": node,
                                                     "discard": "unmap"})
                        nodes.add(node)
                    qmp.execute("block-export-add", {
                        "type": "nbd", "id": _EXPORT_PREFIX + export.attachment_id, "node-name": node,
                        "name": export.attachment_id, "writable": not export.readonly})
                except (QmpError, VolumeError) as error:
                    errors[export.attachment_id] = f"could not export volume {export.volume_id}: {error}"
            self._wait_exports_gone(qmp, set(current) - set(wanted))
            up = _exports(qmp)
            in_use = set(up.values())
            for node in nodes:
                if node.startswith("v") and len(node) == 31 and node not in in_use:
                    try:
                        qmp.execute("blockdev-del", {"node-name": node})
                    except QmpError:
                        pass  # an export still draining: next pass
        volume_of = {node_name(e.volume_id): e.volume_id for e in exports}
        self.exported_volumes = {volume_of[n]: n for n in up.values() if n in volume_of}
        self.last = ExportsSeen(sorted(up), errors)
        if not exports and not up:
            self.stop()
        return self.last

    # -- the daemon -------------------------------------------------------------------------

    def running(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            return None
        if state in ("Z", "X"):
            return None
        wanted = str(self.pidfile).encode()
        return pid if any(a == b"--pidfile" and b == wanted for a, b in zip(argv, argv[1:])) else None

    def _start(self) -> None:
        self.pidfile.unlink(missing_ok=True)
        self.qmp_socket.unlink(missing_ok=True)
        argv = [*self.command_prefix, "qemu-storage-daemon",
                "--chardev", f"socket,id=monitor,path={self.qmp_socket},server=on,wait=off",
                "--monitor", "chardev=monitor",
                "--pidfile", str(self.pidfile), "--daemonize"]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=_START_TIMEOUT_SECONDS,
                                start_new_session=True)
        if result.returncode != 0 or self.running() is None:
            raise VolumeError(f"qemu-storage-daemon did not start: {result.stderr.strip() or result.returncode}")

    def stop(self) -> None:
        pid = self.running()
        if pid is None:
            return
        try:
            with QmpClient(self.qmp_socket, timeout_seconds=5) as qmp:
                qmp.execute("quit")
        except (OSError, QmpError):
            pass
        deadline = time.monotonic() + 10
        while self.running() == pid and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.running() == pid:
            os.kill(pid, signal.SIGKILL)

    def _ensure_server(self, qmp: QmpClient) -> None:
        try:  # qemu-storage-daemon has no /objects to list: add, and a duplicate means it is there
            qmp.execute("object-add", {"qom-type": "tls-creds-psk", "id": _TLS_ID, "endpoint": "server",
                                       "dir": str(self.dir / "psk")})
        except QmpError as error:
            if "duplicate" not in str(error).lower():
                raise
        try:
            qmp.execute("nbd-server-start", {
                "addr": {"type": "inet", "data": {"host": self.listen_host, "port": str(self.port)}},
                "tls-creds": _TLS_ID})
        except QmpError as error:
            if "already running" not in str(error):
                raise VolumeError(f"the NBD server cannot listen on {self.listen_host}:{self.port}: {error}") \
                    from error

    def _write_keys(self, exports: list[DesiredExport]) -> None:
        """`<dir>/psk/keys.psk`: one "identity:hexkey" line per client host."""
        keys = sorted({(e.psk_identity, e.psk_key) for e in exports if e.psk_identity and e.psk_key})
        directory = self.dir / "psk"
        directory.mkdir(mode=0o700, exist_ok=True)
        content = "".join(f"{identity}:{key}\n" for identity, key in keys)
        path = directory / "keys.psk"
        if path.exists() and path.read_text() == content:
            return
        temporary = directory / ".keys.psk.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(content)
        os.replace(temporary, path)

    @staticmethod
    def _wait_exports_gone(qmp: QmpClient, removed: set[str]) -> None:
        deadline = time.monotonic() + 5
        while removed and time.monotonic() < deadline:
            if not removed & set(_exports(qmp)):
                return
            time.sleep(0.1)
