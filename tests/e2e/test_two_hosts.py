"""Two hosts joined by VXLAN, two projects kept apart, and a dataplane that repairs itself.

Host A is the all-in-one cloud's own agent; host B is a second `gureum agent`
(another availability zone) in a namespace of its own. The two host namespaces
are joined by a veth underlay, like two machines on one switch.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gureum.testing import (
    VENV_BIN,
    RunningCloud,
    remove_namespaces,
    remove_state,
    start_cloud,
    stop_leftover_guests,
    wait_for,
    wait_for_compute,
)
from tests.conftest import short_state_dir, unique
from tests.e2e.netns import Outside, ip
from tests.e2e.test_seed_walk import UPSTREAM_IP, ssh

pytestmark = pytest.mark.slow

HOST_A_IP, HOST_B_IP = "192.0.2.1", "192.0.2.2"


@dataclass
class TwoHosts:
    cloud: RunningCloud
    outside: Outside
    host_b_ns: str
    agent_b: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def two_hosts() -> Iterator[TwoHosts]:
    prefix = "g2" + os.urandom(3).hex()
    outside = Outside.create(prefix, bridge="br-provider", address=f"{UPSTREAM_IP}/24")
    host_b_ns = f"{prefix}-hostb"
    ip("netns", "add", host_b_ns)
    ip("-n", host_b_ns, "link", "set", "lo", "up")
    ip("-n", outside.host_ns, "link", "add", "underlay", "type", "veth", "peer", "name", "underlay", "netns", host_b_ns)
    for ns, address in ((outside.host_ns, HOST_A_IP), (host_b_ns, HOST_B_IP)):
        ip("-n", ns, "addr", "add", f"{address}/24", "dev", "underlay")
        ip("-n", ns, "link", "set", "underlay", "up")
    state = short_state_dir("g2c-")
    (state / "gureum.yaml").write_text(f"agent_local_ip: {HOST_A_IP}\n")
    cloud = start_cloud(state, "--agent-netns", outside.host_ns, "--agent-name-prefix", prefix,
                        "--bridge-mapping", "provider:br-provider")
    state_b = state / "host-b"
    agent_b = subprocess.Popen(
        [str(VENV_BIN / "gureum"), "agent", "--controller", cloud.base_url, "--token-file", str(state / "agent-token"),
         "--state-dir", str(state_b), "--hostname", f"{prefix}-b", "--netns", host_b_ns,
         "--name-prefix", f"{prefix}b", "--local-ip", HOST_B_IP, "--availability-zone", "zone-b"],
        stdout=open(state / "agent-b.log", "ab"), stderr=subprocess.STDOUT)  # noqa: SIM115
    try:
        wait_for_compute(cloud)
        wait_for(lambda: len([h for h in cloud.openstack_json("hypervisor", "list") if h.get("State") == "up"]) == 2,
                 120, 1, "both hosts up")
        yield TwoHosts(cloud, outside, host_b_ns, agent_b)
    finally:
        agent_b.send_signal(signal.SIGTERM)
        agent_b.wait(timeout=30)
        cloud.stop()
        stop_leftover_guests(state_b)
        remove_state(state)
        remove_namespaces(prefix)


def fixed_ip(cloud: RunningCloud, name: str, env: dict[str, str] | None = None) -> str:
    """The server's tenant address (10.x here), whatever shape the CLI prints addresses in."""
    addresses = str(cloud.openstack_json("server", "show", name, env=env)["addresses"])
    found = re.search(r"\b10\.\d+\.\d+\.\d+\b", addresses)
    assert found, f"{name} has no tenant address: {addresses}"
    return found.group(0)


def test_vxlan_between_hosts_isolation_and_repair(two_hosts: TwoHosts, tmp_path: Path) -> None:
    cloud, outside = two_hosts.cloud, two_hosts.outside
    run = cloud.openstack
    ext, private, router, sg = unique("ext"), unique("tenant"), unique("r"), unique("sg")
    run("network", "create", ext, "--external", "--provider-physical-network", "provider",
        "--provider-network-type", "flat")
    run("subnet", "create", f"{ext}-s", "--network", ext, "--no-dhcp", "--subnet-range", "203.0.113.0/24",
        "--allocation-pool", "start=203.0.113.100,end=203.0.113.200", "--gateway", UPSTREAM_IP)
    run("network", "create", private)
    run("subnet", "create", f"{private}-s", "--network", private, "--subnet-range", "10.0.0.0/24")
    run("router", "create", router)
    run("router", "set", router, "--external-gateway", ext)
    run("router", "add", "subnet", router, f"{private}-s")
    run("security", "group", "create", sg)
    run("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22", sg)
    run("security", "group", "rule", "create", "--protocol", "icmp", sg)
    key_name, key = unique("key"), tmp_path / "key.pem"
    key.write_text(run("keypair", "create", key_name).stdout)
    key.chmod(0o600)
    common = ["--flavor", "t2.micro", "--image", "gureum-guest", "--nic", f"net-id={private}",
              "--security-group", sg, "--key-name", key_name]
    vm_a, vm_b = unique("vm-a"), unique("vm-b")
    run("server", "create", *common, "--availability-zone", "nova", vm_a)
    run("server", "create", *common, "--availability-zone", "zone-b", "--wait", vm_b)
    wait_for(lambda: cloud.openstack_json("server", "show", vm_a)["status"] == "ACTIVE", 120, 1, f"{vm_a} ACTIVE")
    fip = cloud.openstack_json("floating", "ip", "create", ext)["floating_ip_address"]
    run("server", "add", "floating", "ip", vm_a, fip)
    ip_b = fixed_ip(cloud, vm_b)

    # vm-b got its address from host B's own DHCP, and the tenant network crosses hosts over VXLAN.
    wait_for(lambda: ssh(outside, key, fip, f"ping -c 1 -W 2 {ip_b}").returncode == 0, 240, 3,
             f"vm-a (host A) to ping vm-b {ip_b} (host B) over VXLAN")
    # A guest with no floating IP is not reachable from the outside.
    assert not outside.tcp_connect(ip_b, 22)

    # Another project's guest on its own network is out of reach.
    project, user, password = unique("proj"), unique("user"), uuid.uuid4().hex
    run("project", "create", project)
    run("user", "create", "--password", password, "--project", project, user)
    run("role", "add", "--project", project, "--user", user, "member")
    env = cloud.env_for(user, password, project)
    other = unique("other-net")
    run("network", "create", other, env=env)
    run("subnet", "create", f"{other}-s", "--network", other, "--subnet-range", "10.1.0.0/24", env=env)
    vm_c = unique("vm-c")
    run("security", "group", "rule", "create", "--protocol", "icmp", "default", env=env)
    run("server", "create", "--flavor", "t2.micro", "--image", "gureum-guest", "--nic", f"net-id={other}",
        "--wait", vm_c, env=env)
    ip_c = fixed_ip(cloud, vm_c, env)
    assert ssh(outside, key, fip, f"ping -c 2 -W 2 {ip_c}").returncode != 0, "projects must not reach each other"

    # Delete the tenant bridge on host A by hand: the next pass rebuilds it.
    net_id = cloud.openstack_json("network", "show", private)["id"]
    ip("-n", outside.host_ns, "link", "del", "brq" + net_id[:11])
    wait_for(lambda: ssh(outside, key, fip, f"ping -c 1 -W 2 {ip_b}").returncode == 0, 120, 3,
             "the dataplane to rebuild the deleted bridge")

    for name, who in ((vm_a, None), (vm_b, None), (vm_c, env)):
        run("server", "delete", "--wait", name, env=who)
