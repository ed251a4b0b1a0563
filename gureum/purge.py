"""`gureum down --purge`: find what gureum made on this host for one state dir, and remove it.

Only things that carry gureum's own marks are found, never anything else:
* processes (guests' QEMU, qemu-storage-daemon, dnsmasq, a left-over agent) whose
  command line names a path inside the state dir: their pidfiles live there;
* in each dataplane's namespace (up.json lists them: the agent's namespace and
  name prefix), devices whose alias is the dataplane's owner alias (bridges,
  taps, VXLAN and VLAN devices, leg ends) or the alias `gureum up` gives a
  provider bridge it made, and the nftables tables named with that prefix (and
  the external NAT table when `--external-gateway` wrote it there);
* namespaces `{prefix}qrouter-*` and `{prefix}qdhcp-*`, and the agent's
  namespace itself when its name carries the prefix (the tests' `{prefix}-host`);
* the state dir, only when asked.
An empty prefix (allowed for the agent) still only ever means `qrouter-`/`qdhcp-`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from gureum.agent.dataplane import names, netns, nft
from gureum.agent.external_side import EXTERNAL_TABLE
from gureum.running import DEFAULT_NAME_PREFIX, DataplaneRecord, RunRecord, process_start_time

# The alias `gureum up` gives a provider bridge it made itself (one the operator made has none).
# Not the dataplane's owner alias: the agent deletes devices with that one that it does not want.
PROVIDER_BRIDGE_ALIAS = "gureum-provider-bridge"
_TERM_SECONDS = 5.0
_TABLE_KINDS = ("filter", "router")


@dataclass(frozen=True)
class Found:
    kind: str  # guest, process, device, nftables table, namespace, state dir
    name: str  # what a person recognises it by
    remove: Callable[[], None]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


# -- processes ----------------------------------------------------------------------


@dataclass(frozen=True)
class OwnProcess:
    pid: int
    start_time: int
    role: str  # guest, qemu-storage-daemon, dnsmasq, agent
    argv: tuple[str, ...]

    @property
    def guest_name(self) -> str:
        """`vm1 (uuid)` from QEMU's -name guest=... and -uuid."""
        options = dict(zip(self.argv, self.argv[1:]))
        name = options.get("-name", "").removeprefix("guest=").replace(",,", ",")
        uuid = options.get("-uuid", "")
        return f"{name} ({uuid})" if name and uuid else name or uuid or "unnamed"


def _role(argv: list[str]) -> str | None:
    program = os.path.basename(argv[0]) if argv else ""
    if program.startswith("qemu-system-"):
        return "guest"
    if program in ("qemu-storage-daemon", "dnsmasq"):
        return program
    # `python -m gureum.cli agent ...` (what up runs) or `[python] .../gureum agent ...`.
    words = [os.path.basename(word) for word in argv[:4]]
    for index, word in enumerate(words[:-1]):
        if word in ("gureum.cli", "gureum") and words[index + 1] == "agent":
            return "agent"
    return None


def _names_path_inside(argv: list[str], roots: list[str]) -> bool:
    # A trailing slash, so /tmp/gc-ab never claims the processes of /tmp/gc-abc.
    return any(root + "/" in arg or arg == root for arg in argv for root in roots)


def own_processes(state_dir: Path) -> list[OwnProcess]:
    """Guests, dnsmasq, qemu-storage-daemon and agents whose command line names a path in the state dir."""
    roots = sorted({str(state_dir.absolute()), str(state_dir.resolve())})
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
        except OSError:
            continue
        role = _role(argv)
        start = process_start_time(int(entry))
        if role is not None and start is not None and _names_path_inside(argv, roots):
            found.append(OwnProcess(int(entry), start, role, tuple(argv)))
    order = {"agent": 0, "guest": 1}  # the agent first: it would start guests and dnsmasq again
    return sorted(found, key=lambda p: (order.get(p.role, 2), p.pid))


def _same_process(process: OwnProcess) -> bool:
    return process_start_time(process.pid) == process.start_time


def end_process(process: OwnProcess) -> None:
    """SIGTERM, SIGKILL after a few seconds; never a pid that now belongs to another process."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        if not _same_process(process):
            return
        try:
            os.kill(process.pid, signum)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + _TERM_SECONDS
        while time.monotonic() < deadline and _same_process(process):
            time.sleep(0.05)
    if _same_process(process):
        raise RuntimeError(f"pid {process.pid} did not exit on SIGKILL")


def _process_found(process: OwnProcess) -> Found:
    if process.role == "guest":
        return Found("guest", f"{process.guest_name}, qemu pid {process.pid}", partial(end_process, process))
    return Found("process", f"{process.role} pid {process.pid}", partial(end_process, process))


def guests(state_dir: Path) -> list[Found]:
    return [_process_found(p) for p in own_processes(state_dir) if p.role == "guest"]


# -- devices and tables in a dataplane's namespace -------------------------------------


def _ip(namespace: str, *args: str) -> subprocess.CompletedProcess[str]:
    prefix = ["ip", "-n", namespace] if namespace else ["ip"]
    return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=30)


def _exists(namespace: str) -> bool:
    return not namespace or netns.inode(namespace) is not None


def bridge_exists(namespace: str, bridge: str) -> bool:
    return _exists(namespace) and _ip(namespace, "link", "show", "dev", bridge).returncode == 0


def provider_bridge_alias(prefix: str) -> str:
    return f"{PROVIDER_BRIDGE_ALIAS}:{prefix}"


def mark_provider_bridge(namespace: str, bridge: str, prefix: str) -> None:
    """Give a bridge `gureum up` just made the alias that lets purge find it again."""
    _ip(namespace, "link", "set", "dev", bridge, "alias", provider_bridge_alias(prefix))


def own_devices(namespace: str, prefix: str) -> list[tuple[str, str]]:
    """(name, kind) of the devices with this dataplane's aliases; bridges last, so their ports go first."""
    result = _ip(namespace, "-j", "-d", "link", "show")
    if result.returncode != 0:
        return []
    aliases = {names.owner_alias(prefix), provider_bridge_alias(prefix)}
    devices = [(link["ifname"], link.get("linkinfo", {}).get("info_kind", "device"))
               for link in json.loads(result.stdout or "[]") if link.get("ifalias") in aliases]
    return sorted(devices, key=lambda device: (device[1] == "bridge", device[0]))


def _delete_device(namespace: str, name: str) -> None:
    result = _ip(namespace, "link", "del", "dev", name)
    # A veth goes with its peer: gone is what was wanted.
    if result.returncode != 0 and _ip(namespace, "link", "show", "dev", name).returncode == 0:
        raise RuntimeError(result.stderr.strip())


def own_tables(namespace: str, dataplane: DataplaneRecord) -> list[tuple[str, str]]:
    wanted = {names.table_name(dataplane.name_prefix, kind) for kind in _TABLE_KINDS}
    if dataplane.external_gateway:
        wanted.add(EXTERNAL_TABLE)
    try:
        existing = nft.existing_tables(namespace or None)
    except nft.NftError:
        return []
    return sorted(table for table in existing if table[1] in wanted)


def _in_namespace(namespace: str) -> str:
    return f" in {namespace}" if namespace else ""


def dataplane_objects(dataplane: DataplaneRecord) -> list[Found]:
    """Devices and tables in the dataplane's namespace, then its own namespaces."""
    found: list[Found] = []
    namespace, prefix = dataplane.netns, dataplane.name_prefix
    if _exists(namespace):
        for name, kind in own_devices(namespace, prefix):
            found.append(Found("device", f"{kind} {name}{_in_namespace(namespace)}",
                               partial(_delete_device, namespace, name)))
        for family, table in own_tables(namespace, dataplane):
            found.append(Found("nftables table", f"{family} {table}{_in_namespace(namespace)}",
                               partial(nft.delete_tables, namespace or None, [(family, table)])))
    spaces = netns.names_with_prefix(prefix + names.ROUTER_NS) + netns.names_with_prefix(prefix + names.DHCP_NS)
    if prefix and namespace.startswith(prefix) and _exists(namespace):
        spaces.append(namespace)  # last: the others' legs end in it
    for space in spaces:
        found.append(Found("namespace", space, partial(netns.remove, space)))
    return found


def dataplanes_of(state_dir: Path, record: RunRecord | None, fallback_netns: str,
                  fallback_prefix: str) -> list[DataplaneRecord]:
    """The dataplanes up.json lists. With no record but an agent's state (an older gureum's up),
    the one its settings gave; with neither, none: a dir no agent ran from made nothing."""
    if record is not None:
        return list(record.dataplanes)
    if not (state_dir / "agent").is_dir():
        return []
    return [DataplaneRecord(netns=fallback_netns, name_prefix=fallback_prefix or DEFAULT_NAME_PREFIX)]


# -- all of it ------------------------------------------------------------------------


def everything(state_dir: Path, dataplanes: list[DataplaneRecord], remove_state_dir: bool) -> list[Found]:
    """In the order to remove them: processes, then devices and tables, then namespaces, then the state dir."""
    found = [_process_found(p) for p in own_processes(state_dir)]
    for dataplane in dataplanes:
        found += dataplane_objects(dataplane)
    if remove_state_dir and state_dir.exists():
        found.append(Found("state dir", str(state_dir), partial(shutil.rmtree, state_dir)))
    return found


def remove(found: list[Found], say: Callable[[str], None]) -> list[tuple[Found, str]]:
    """Remove each thing, saying so one line each; the failures, with why."""
    failures = []
    for thing in found:
        try:
            thing.remove()
        except Exception as error:  # noqa: BLE001 - say what could not go, go on with the rest
            failures.append((thing, str(error)))
            say(f"could not remove {thing}: {error}")
            continue
        say(f"removed {thing}")
    return failures
