"""`gureum up --external-gateway`: floating IPs answer from the host itself, guests reach out through it.

The agent's namespace stands for a laptop: it gets the external gateway on its
provider bridge and NAT out of an "uplink" veth to another namespace standing
for the internet. No route is added anywhere by the test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gureum.testing import RunningCloud, remove_namespaces, remove_state, start_cloud, wait_for, wait_for_compute
from tests.conftest import short_state_dir, unique
from tests.e2e.netns import Outside, ip
from tests.e2e.test_seed_walk import ssh

pytestmark = pytest.mark.slow

INTERNET_IP = "198.51.100.2"


@pytest.fixture(scope="module")
def laptop() -> Iterator[tuple[RunningCloud, Outside]]:
    prefix = "gx" + os.urandom(3).hex()
    host_ns, internet_ns = f"{prefix}-host", f"{prefix}-net"
    for name in (host_ns, internet_ns):
        ip("netns", "add", name)
        ip("-n", name, "link", "set", "lo", "up")
    ip("-n", host_ns, "link", "add", "uplink", "type", "veth", "peer", "name", "uplink", "netns", internet_ns)
    ip("-n", host_ns, "addr", "add", "198.51.100.1/24", "dev", "uplink")
    ip("-n", internet_ns, "addr", "add", f"{INTERNET_IP}/24", "dev", "uplink")
    for name in (host_ns, internet_ns):
        ip("-n", name, "link", "set", "uplink", "up")
    state = short_state_dir("gxc-")
    cloud = start_cloud(state, "--agent-netns", host_ns, "--agent-name-prefix", prefix,
                        "--external-gateway", "203.0.113.1/24")
    try:
        wait_for_compute(cloud)
        # Commands "on the host" run in its namespace.
        yield cloud, Outside(host_ns=host_ns, ns=host_ns, address="203.0.113.1/24")
    finally:
        cloud.stop()
        remove_state(state)
        remove_namespaces(prefix)


def test_floating_ip_from_the_host_and_out_to_the_internet(laptop: tuple[RunningCloud, Outside],
                                                            tmp_path: Path) -> None:
    cloud, host = laptop
    run = cloud.openstack
    ext, private, router = unique("ext"), unique("net"), unique("r")
    run("network", "create", ext, "--external", "--provider-physical-network", "provider",
        "--provider-network-type", "flat")
    run("subnet", "create", f"{ext}-s", "--network", ext, "--no-dhcp", "--subnet-range", "203.0.113.0/24",
        "--allocation-pool", "start=203.0.113.100,end=203.0.113.200", "--gateway", "203.0.113.1")
    run("network", "create", private)
    run("subnet", "create", f"{private}-s", "--network", private, "--subnet-range", "10.0.0.0/24")
    run("router", "create", router)
    run("router", "set", router, "--external-gateway", ext)
    run("router", "add", "subnet", router, f"{private}-s")
    for rule in (["--protocol", "tcp", "--dst-port", "22"], ["--protocol", "icmp"]):
        run("security", "group", "rule", "create", *rule, "default")
    key_name, key = unique("key"), tmp_path / "key.pem"
    key.write_text(run("keypair", "create", key_name).stdout)
    key.chmod(0o600)
    name = unique("vm")
    run("server", "create", "--flavor", "t2.micro", "--image", "gureum-guest", "--nic", f"net-id={private}",
        "--key-name", key_name, "--wait", name)
    fip = cloud.openstack_json("floating", "ip", "create", ext)["floating_ip_address"]
    run("server", "add", "floating", "ip", name, fip)
    result = wait_for(lambda: (r := ssh(host, key, fip, f"ping -c 1 -W 2 {INTERNET_IP}")).returncode == 0 and r,
                      240, 3, "ssh from the host to the floating IP, and a ping from the guest to the internet")
    assert "0% packet loss" in result.stdout
    run("server", "delete", "--wait", name)
