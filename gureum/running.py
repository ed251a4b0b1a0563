"""The record a running controller keeps in its state dir, so `gureum down` and `gureum status` find it.

`up.json` says which process serves this state dir (pid and its kernel start
time, so a reused pid is never taken for it), at which URL, and which
dataplanes (agent namespace and name prefix) its agents were given. The file
stays after the controller stops: a dead pid means "not running", and the
dataplanes listed are what `gureum down --purge` cleans, whatever runs now.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

RECORD_FILE = "up.json"
# The agent's default prefix of the namespaces and nftables tables it makes.
DEFAULT_NAME_PREFIX = "gureum-"


@dataclass(frozen=True)
class DataplaneRecord:
    netns: str  # "": the host's own namespace
    name_prefix: str
    # Whether `--external-gateway` wrote the (unprefixed) NAT table in that namespace.
    external_gateway: bool = False


@dataclass(frozen=True)
class RunRecord:
    pid: int
    start_time: int  # /proc/<pid>/stat field 22: clock ticks after boot
    command: str  # up or serve
    url: str
    dataplanes: tuple[DataplaneRecord, ...] = field(default_factory=tuple)


def process_start_time(pid: int) -> int | None:
    """When the process started (clock ticks after boot), None if there is no live process with that pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: fields after the last ')' are plain.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # exited, not yet reaped
        return None
    return int(fields[19])


def read_record(state_dir: Path) -> RunRecord | None:
    path = state_dir / RECORD_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    dataplanes = tuple(DataplaneRecord(**entry) for entry in data.get("dataplanes", []))
    return RunRecord(pid=int(data["pid"]), start_time=int(data["start_time"]), command=str(data["command"]),
                     url=str(data["url"]), dataplanes=dataplanes)


def write_record(state_dir: Path, command: str, url: str, dataplane: DataplaneRecord | None) -> RunRecord:
    """Record this process as the state dir's controller; dataplanes of earlier runs are kept for purge."""
    previous = read_record(state_dir)
    dataplanes = list(previous.dataplanes) if previous else []
    if dataplane is not None:
        # One entry per namespace and prefix; the newest says whether the NAT table is there.
        dataplanes = [d for d in dataplanes if (d.netns, d.name_prefix) != (dataplane.netns, dataplane.name_prefix)]
        dataplanes.append(dataplane)
    pid = os.getpid()
    record = RunRecord(pid=pid, start_time=process_start_time(pid) or 0, command=command, url=url,
                       dataplanes=tuple(dataplanes))
    path = state_dir / RECORD_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(record), indent=2) + "\n")
    temporary.replace(path)  # readers never see half a file
    return record


def is_running(record: RunRecord) -> bool:
    return process_start_time(record.pid) == record.start_time


def running_controller(state_dir: Path) -> RunRecord | None:
    """The record of the live controller of this state dir, None if none runs."""
    record = read_record(state_dir)
    return record if record is not None and is_running(record) else None


def stop_controller(record: RunRecord, timeout_seconds: float = 60.0) -> bool:
    """SIGTERM (a clean stop: the agent and the server wind down), then wait; True once it is gone."""
    if not is_running(record):
        return True
    try:
        os.kill(record.pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if not is_running(record):
            return True
        time.sleep(0.1)
    return False
