"""The seed's walk with real packets: external network, router, security group, floating IP, ssh.

The cloud's agent keeps its whole dataplane in a namespace of its own that stands
for the host, and "the outside" is another namespace with an address on the
provider bridge (an upstream router). Nothing here touches the host's interfaces.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gureum.testing import RunningCloud, remove_namespaces, remove_state, start_cloud, wait_for, wait_for_compute
from tests.conftest import short_state_dir, unique
from tests.e2e.netns import Outside

pytestmark = pytest.mark.slow

EXTERNAL_CIDR = "203.0.113.0/24"
UPSTREAM_IP = "203.0.113.1"


@pytest.fixture(scope="module")
def walk_cloud() -> Iterator[tuple[RunningCloud, Outside]]:
    prefix = "gw" + os.urandom(3).hex()
    outside = Outside.create(prefix, bridge="br-provider", address=f"{UPSTREAM_IP}/24")
    state = short_state_dir("gwc-")
    cloud = start_cloud(state, "--agent-netns", outside.host_ns, "--agent-name-prefix", prefix,
                        "--bridge-mapping", "provider:br-provider")
    try:
        wait_for_compute(cloud)
        yield cloud, outside
    finally:
        cloud.stop()
        remove_state(state)
        remove_namespaces(prefix)


def ssh(outside: Outside, key: Path, address: str, command: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return outside.run(["ssh", "-i", str(key), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                        "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", f"root@{address}", command], timeout=timeout)


def test_seed_walk(walk_cloud: tuple[RunningCloud, Outside], tmp_path: Path) -> None:
    cloud, outside = walk_cloud
    run = cloud.openstack
    ext, private, router, sg = unique("ext-net"), unique("private-net"), unique("router1"), unique("test_sg")
    run("network", "create", ext, "--external", "--provider-physical-network", "provider",
        "--provider-network-type", "flat")
    run("subnet", "create", f"{ext}-subnet", "--network", ext, "--no-dhcp", "--subnet-range", EXTERNAL_CIDR,
        "--allocation-pool", "start=203.0.113.100,end=203.0.113.200", "--gateway", UPSTREAM_IP)
    run("network", "create", private)
    run("subnet", "create", f"{private}-subnet", "--network", private, "--subnet-range", "10.0.0.0/24",
        "--allocation-pool", "start=10.0.0.10,end=10.0.0.100", "--gateway", "10.0.0.1",
        "--dns-nameserver", "8.8.8.8")
    run("router", "create", router)
    run("router", "set", router, "--external-gateway", ext)
    run("router", "add", "subnet", router, f"{private}-subnet")
    run("security", "group", "create", sg)
    for port in ("22", "80", "8888"):
        run("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", port, sg)
    run("security", "group", "rule", "create", "--protocol", "icmp", sg)
    key_name, key = unique("mykey"), tmp_path / "mykey.pem"
    key.write_text(run("keypair", "create", key_name).stdout)
    key.chmod(0o600)

    name = unique("vm")
    server = cloud.openstack_json("server", "create", "--flavor", "t2.micro", "--image", "gureum-guest",
                                  "--nic", f"net-id={private}", "--security-group", sg, "--key-name", key_name,
                                  "--wait", name)
    assert server["status"] == "ACTIVE"
    fixed = server["addresses"]
    assert private in str(fixed)
    fip = cloud.openstack_json("floating", "ip", "create", ext)["floating_ip_address"]
    run("server", "add", "floating", "ip", name, fip)
    shown = cloud.openstack_json("server", "show", name)
    assert fip in str(shown["addresses"])

    result = wait_for(lambda: _ok(ssh(outside, key, fip, "hostname; ping -c 1 -W 2 " + UPSTREAM_IP)), 240, 3,
                      f"ssh to the floating IP {fip} and a ping out through SNAT")
    assert "1 packets received" in result.stdout or " 0% packet loss" in result.stdout

    # A port the group does not open drops; opening it lets packets through, nothing restarted.
    # busybox nc: -ll keeps listening; the subshell detaches it from the ssh session (no nohup in the guest).
    assert _ok(ssh(outside, key, fip, "(nc -ll -p 9999 -e /bin/cat </dev/null >/dev/null 2>&1 &); true"))
    assert not outside.tcp_connect(fip, 9999)
    rule = cloud.openstack_json("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "9999", sg)
    wait_for(lambda: outside.tcp_connect(fip, 9999), 30, 1, "port 9999 to open after the rule")
    run("security", "group", "rule", "delete", rule["id"])
    wait_for(lambda: not outside.tcp_connect(fip, 9999), 30, 1, "port 9999 to close again")

    floating = cloud.openstack_json("floating", "ip", "show", fip)
    assert floating["status"] == "ACTIVE"
    assert any(":-)" in str(a.get("Alive")) or a.get("Alive") is True
               for a in cloud.openstack_json("network", "agent", "list"))

    run("server", "delete", "--wait", name)
    run("floating", "ip", "delete", fip)
    run("router", "remove", "subnet", router, f"{private}-subnet")
    run("router", "delete", router)


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str] | None:
    return result if result.returncode == 0 else None
