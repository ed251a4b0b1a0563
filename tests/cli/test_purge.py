"""`gureum down --purge` removes what its cloud made on the host, and only that.

The cloud's agent builds its dataplane in a namespace named with another test
prefix (`{other}-shared`), beside objects of that other prefix made here: a
namespace with a process in it, a bridge with the other dataplane's alias, its
nftables table, a bridge the operator made and mapped, and processes that name
another state dir. Purge must clean its own things inside the shared namespace
and leave every one of those.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gureum.agent.dataplane import names, netns, nft
from gureum.purge import own_processes, provider_bridge_alias
from gureum import testing
from gureum.testing import PREFIXES_MADE, RunningCloud, remove_namespaces, remove_state, start_cloud, wait_for
from tests.cli.helpers import gureum, status_json
from tests.conftest import short_state_dir

OPERATOR_BRIDGE = "br-oper"
FOREIGN_BRIDGE = "brqforeign0"


def ip(namespace: str, *args: str) -> str:
    return subprocess.run(["ip", "-n", namespace, *args], capture_output=True, text=True, check=True).stdout


def links(namespace: str) -> dict[str, str]:
    """name -> alias ('' for none) of every device in the namespace."""
    return {link["ifname"]: link.get("ifalias", "") for link in json.loads(ip(namespace, "-j", "link", "show"))}


@dataclass
class Foreign:
    prefix: str
    shared: str  # the cloud's agent namespace: named with the other prefix
    namespace: str
    processes: list[subprocess.Popen[bytes]]


def make_foreign(other: str, state: Path) -> Foreign:
    shared, namespace = f"{other}-shared", f"{other}qdhcp-foreign"
    for name in (shared, namespace):
        subprocess.run(["ip", "netns", "add", name], check=True)
    ip(shared, "link", "add", FOREIGN_BRIDGE, "type", "bridge")
    ip(shared, "link", "set", FOREIGN_BRIDGE, "alias", names.owner_alias(other))
    ip(shared, "link", "add", OPERATOR_BRIDGE, "type", "bridge")  # mapped, so the agent uses it; not gureum's
    nft.replace_tables(shared, {("inet", names.table_name(other, "filter")): "  chain input {\n  }\n"})
    sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
    processes = [
        subprocess.Popen(["ip", "netns", "exec", namespace, *sleeper]),
        # Programs purge looks for, naming another state dir, one whose name starts like this one's.
        subprocess.Popen(["dnsmasq", *sleeper[1:], f"--pid-file={state}-other/pid"], executable=sys.executable),
        subprocess.Popen(["qemu-system-x86_64", *sleeper[1:], "-pidfile", f"/tmp/{other}/qemu.pid"],
                         executable=sys.executable),
    ]
    return Foreign(other, shared, namespace, processes)


def remove_foreign(foreign: Foreign) -> None:
    for process in foreign.processes:
        process.kill()
        process.wait()
    remove_namespaces(foreign.prefix)


@pytest.fixture
def purge_cloud() -> Iterator[tuple[RunningCloud, str, Foreign]]:
    state = short_state_dir("gcp-")
    prefix = testing.test_name_prefix(state)  # the session removes its namespaces whatever happens here
    other = "gt" + os.urandom(3).hex()
    PREFIXES_MADE.add(other)
    foreign = make_foreign(other, state)
    try:
        cloud = start_cloud(state, "--no-guest-image", "--agent-netns", foreign.shared, "--agent-name-prefix", prefix,
                            "--bridge-mapping", "provider:br-provider", "--bridge-mapping",
                            f"physnet2:{OPERATOR_BRIDGE}")
        try:
            yield cloud, prefix, foreign
        finally:
            cloud.stop()
    finally:
        remove_foreign(foreign)
        remove_state(state)


def boot_guest(cloud: RunningCloud, disk: Path) -> str:
    """A guest on a network with DHCP and a router: QEMU, dnsmasq, taps, bridges, VXLAN, namespaces."""
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    image = cloud.openstack_json("image", "create", "--file", str(disk), "--disk-format", "qcow2",
                                 "--container-format", "bare", "blank")["id"]
    flavor = cloud.openstack_json("flavor", "create", "--vcpus", "1", "--ram", "128", "--disk", "1", "p.tiny")["id"]
    cloud.openstack("network", "create", "purge-net")
    cloud.openstack("subnet", "create", "--network", "purge-net", "--subnet-range", "10.77.0.0/24", "purge-sub")
    cloud.openstack("router", "create", "purge-router")
    cloud.openstack("router", "add", "subnet", "purge-router", "purge-sub")
    server = cloud.openstack_json("server", "create", "--flavor", flavor, "--image", image, "--network", "purge-net",
                                  "--wait", "purge-vm")
    assert server["status"] == "ACTIVE"
    return server["id"]


def test_purge_removes_its_own_and_nothing_else(purge_cloud: tuple[RunningCloud, str, Foreign],
                                                tmp_path: Path) -> None:
    cloud, prefix, foreign = purge_cloud
    state = cloud.state_dir
    wait_for(lambda: cloud.openstack_json("hypervisor", "list"), 90, 2, "the agent's compute host")
    server_id = boot_guest(cloud, tmp_path / "blank.qcow2")
    wait_for(lambda: {"guest", "dnsmasq"} <= {p.role for p in own_processes(state)}, 60, 1, "the guest and dnsmasq")
    assert status_json(state)["guests_by_state"] == {"ACTIVE": 1}
    ours = {names.owner_alias(prefix), provider_bridge_alias(prefix)}
    made = {name for name, alias in links(foreign.shared).items() if alias in ours}
    assert "br-provider" in made and any(name.startswith("vx-") for name in made)
    assert netns.names_with_prefix(prefix + names.DHCP_NS) and netns.names_with_prefix(prefix + names.ROUTER_NS)

    declined = gureum("down", "--purge", "--state-dir", str(state), stdin="n\n")
    assert declined.returncode == 1
    assert f"purge-vm ({server_id})" in declined.stdout and "nothing removed" in declined.stdout
    assert cloud.process.poll() is None and any(p.role == "guest" for p in own_processes(state))

    purged = gureum("down", "--purge", "--yes", "--state-dir", str(state))
    assert purged.returncode == 0, purged.stdout + purged.stderr
    lines = purged.stdout.splitlines()
    assert f"stopped gureum up (pid {cloud.process.pid})" in lines
    assert any(line.startswith(f"removed guest purge-vm ({server_id}), qemu pid") for line in lines)
    assert any(line.startswith("removed process dnsmasq pid") for line in lines)
    assert f"removed device bridge br-provider in {foreign.shared}" in lines
    assert any(line.startswith(f"removed namespace {prefix}qdhcp-") for line in lines)
    assert not [line for line in lines if line.startswith("could not")]

    # Nothing of its own is left: processes, devices, tables, namespaces.
    assert cloud.process.poll() == 0
    assert own_processes(state) == []
    left = links(foreign.shared)
    assert not [name for name, alias in left.items() if alias in ours]
    assert not [t for t in nft.existing_tables(foreign.shared) if t[1].startswith(prefix)]
    assert netns.names_with_prefix(prefix) == []
    # ...and everything of others is: the shared namespace, their devices, table, namespace and processes.
    assert {FOREIGN_BRIDGE, OPERATOR_BRIDGE} <= set(left)
    assert ("inet", names.table_name(foreign.prefix, "filter")) in nft.existing_tables(foreign.shared)
    assert netns.inode(foreign.namespace) is not None and netns.inode(foreign.shared) is not None
    assert all(process.poll() is None for process in foreign.processes)
    assert state.exists()

    again = gureum("down", "--purge", "--yes", "--state-dir", str(state))
    assert again.returncode == 0 and "nothing of gureum's was left" in again.stdout
    gone = gureum("down", "--purge", "--yes", "--remove-state-dir", "--state-dir", str(state))
    assert gone.returncode == 0 and f"removed state dir {state}" in gone.stdout
    assert not state.exists()
