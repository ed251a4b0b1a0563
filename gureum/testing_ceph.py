"""A one-node Ceph cluster for tests: mon, mgr and one OSD on a sparse file, on loopback.

Started from Debian's packages (ceph-mon, ceph-mgr, ceph-osd, ceph-common) with no
systemd and nothing outside its own directory: its own ceph.conf, keyrings, data, run
and log dirs, and a free port for the monitor. About 20 s to HEALTH with PGs
active+clean here. Every daemon runs in the foreground as our child and is stopped
by its PID. Reusable: the volume tests use its `volumes` pool, object storage tests
may add radosgw with `start_daemon`.

Pitfalls met (block-storage.md §6.9): `bluestore_block_path` inside the OSD data dir
("Too many levels of symbolic links"), and an OSD mkfs without its key ("failed to
fetch mon config").
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

OSD_SIZE_BYTES = 4 * 1024**3
READY_TIMEOUT_SECONDS = 180.0


def ceph_available() -> str | None:
    """Why a Ceph cluster cannot be started here, or None when it can."""
    for tool in ("ceph-mon", "ceph-mgr", "ceph-osd", "ceph", "ceph-authtool", "monmaptool", "rbd"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/packages/ceph.txt)"
    return None


@dataclass
class CephCluster:
    directory: Path
    fsid: str = field(default_factory=lambda: str(uuid.uuid4()))
    mon_port: int = 0
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.directory / "ceph.conf"

    @property
    def admin_keyring(self) -> Path:
        return self.directory / "ceph.client.admin.keyring"

    @property
    def mon_host(self) -> str:
        return f"127.0.0.1:{self.mon_port}"

    # -- running commands against it ----------------------------------------------------

    def run(self, *argv: str, timeout: float = 60, input_text: str | None = None) -> str:
        result = subprocess.run([argv[0], "--conf", str(self.conf), *argv[1:]], capture_output=True, text=True,
                                timeout=timeout, input=input_text)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()[-1000:]}")
        return result.stdout

    def ceph_json(self, *argv: str) -> dict:
        return json.loads(self.run("ceph", "--connect-timeout", "10", *argv, "--format", "json", timeout=30))

    def admin_key(self) -> str:
        return self.run("ceph", "auth", "get-key", "client.admin").strip()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> "CephCluster":
        reason = ceph_available()
        if reason:
            raise RuntimeError(reason)
        d = self.directory
        for sub in ("mon", "mgr", "osd", "run", "log"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        self.mon_port = _free_port()
        self._write_conf()
        mon_keyring = d / "ceph.mon.keyring"
        _tool("ceph-authtool", "--create-keyring", str(mon_keyring), "--gen-key", "-n", "mon.", "--cap", "mon",
              "allow *")
        _tool("ceph-authtool", "--create-keyring", str(self.admin_keyring), "--gen-key", "-n", "client.admin",
              "--cap", "mon", "allow *", "--cap", "osd", "allow *", "--cap", "mds", "allow *", "--cap", "mgr",
              "allow *")
        _tool("ceph-authtool", str(mon_keyring), "--import-keyring", str(self.admin_keyring))
        monmap = d / "monmap"
        _tool("monmaptool", "--create", "--addv", "a", f"[v2:{self.mon_host}]", "--fsid", self.fsid, str(monmap))
        self.run("ceph-mon", "--mkfs", "-i", "a", "--monmap", str(monmap), "--keyring", str(mon_keyring))
        self.start_daemon("mon.a", "ceph-mon", "-i", "a")
        self._wait(lambda: self.ceph_json("mon", "stat") is not None, "the monitor to answer")

        mgr_dir = d / "mgr" / "ceph-x"
        mgr_dir.mkdir(parents=True, exist_ok=True)
        (mgr_dir / "keyring").write_text(self.run(
            "ceph", "auth", "get-or-create", "mgr.x", "mon", "allow profile mgr", "osd", "allow *", "mds", "allow *"))
        self.start_daemon("mgr.x", "ceph-mgr", "-i", "x")

        osd_uuid = str(uuid.uuid4())
        osd_key = _tool("ceph-authtool", "--gen-print-key").strip()
        osd_id = self.run("ceph", "osd", "new", osd_uuid, "-i", "-",
                          input_text=json.dumps({"cephx_secret": osd_key})).strip()
        osd_dir = d / "osd" / f"ceph-{osd_id}"
        osd_dir.mkdir(parents=True, exist_ok=True)
        _tool("ceph-authtool", "--create-keyring", str(osd_dir / "keyring"), "--name", f"osd.{osd_id}",
              "--add-key", osd_key)
        self.run("ceph-osd", "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid, timeout=180)
        self.start_daemon(f"osd.{osd_id}", "ceph-osd", "-i", osd_id)
        self._wait(lambda: self.ceph_json("osd", "stat").get("num_up_osds") == 1, "the OSD to come up")

        self.run("ceph", "osd", "pool", "create", "volumes", "8", "8")
        self.run("ceph", "osd", "pool", "set", "volumes", "size", "1", "--yes-i-really-mean-it")
        self.run("ceph", "osd", "pool", "application", "enable", "volumes", "rbd")
        self._wait(self._pgs_clean, "the placement groups to be active+clean")
        return self

    def start_daemon(self, name: str, *argv: str) -> subprocess.Popen:
        """A Ceph daemon in the foreground (-f), as our child, logging to its own file."""
        log = open(self.directory / "log" / f"{name}.stdout", "ab")  # noqa: SIM115 - lives with the process
        started = subprocess.Popen([argv[0], "--conf", str(self.conf), "-f", *argv[1:]], stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.processes[name] = started
        return started

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            started = self.processes.pop(name)
            if started.poll() is None:
                started.send_signal(signal.SIGTERM)
                try:
                    started.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    started.kill()
                    started.wait()

    def __enter__(self) -> "CephCluster":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- internals ------------------------------------------------------------------------------

    def _write_conf(self) -> None:
        d = self.directory
        self.conf.write_text(f"""[global]
fsid = {self.fsid}
mon host = [v2:{self.mon_host}]
mon initial members = a
public addr = 127.0.0.1
ms bind msgr1 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
run dir = {d}/run
admin socket = {d}/run/$cluster-$name.asok
log file = {d}/log/$cluster-$name.log
pid file = {d}/run/$cluster-$name.pid
osd pool default size = 1
osd pool default min size = 1
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon data avail warn = 1
mon data avail crit = 0
mon warn on pool no redundancy = false
auth allow insecure global id reclaim = false

[client]
keyring = {self.admin_keyring}

[mon]
mon data = {d}/mon/$cluster-$id
keyring = {d}/mon/$cluster-$id/keyring

[mgr]
mgr data = {d}/mgr/$cluster-$id
keyring = {d}/mgr/$cluster-$id/keyring

[osd]
osd data = {d}/osd/$cluster-$id
keyring = {d}/osd/$cluster-$id/keyring
osd objectstore = bluestore
bluestore block create = true
bluestore block size = {OSD_SIZE_BYTES}
bluestore block path = {d}/osd-block-$id
bluestore cache size = 67108864
osd memory target = 536870912
""")

    def _pgs_clean(self) -> bool:
        status = self.ceph_json("pg", "stat")
        summary = status.get("pg_summary", status)
        states = summary.get("num_pg_by_state", [])
        total = summary.get("num_pgs", 0)
        clean = sum(s["num"] for s in states if s["name"] == "active+clean")
        return total > 0 and clean == total

    def _wait(self, ready, what: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        last = ""
        while time.monotonic() < deadline:
            for name, started in self.processes.items():
                if started.poll() is not None:
                    tail = (self.directory / "log" / f"{name}.stdout").read_text(errors="replace")[-1500:]
                    raise RuntimeError(f"ceph {name} exited ({started.returncode}) waiting for {what}: {tail}")
            try:
                if ready():
                    return
            except (RuntimeError, ValueError, subprocess.TimeoutExpired) as error:
                last = str(error)
            time.sleep(0.5)
        raise RuntimeError(f"timed out waiting for {what}: {last}")


def _tool(*argv: str) -> str:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {result.stderr.strip()}")
    return result.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
