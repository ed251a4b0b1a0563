"""End to end with a real guest: QEMU on the dataplane's tap, in the host namespace.

The test guest (gureum/guest) asks DHCP for its address and routes, reads its
hostname and key from the metadata service, starts dropbear and prints its
banner; the outside reaches its ssh port through a floating IP.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gureum.agent.hypervisor import detect_accel
from gureum.agent.hypervisor.accel import QEMU_BINARY, accel_arguments
from gureum.agent.hypervisor.instance_metadata import InstanceMetadata
from gureum.agent.protocol import DesiredFloatingIp, DesiredNetworking, DesiredRule
from gureum.guest import GuestImage, build_guest_image, default_cache_dir
from tests.dataplane.helpers import TCP_TOOL, World, group, leg, network, port, router, wait_for

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGureumDataplaneEndToEndKey0000000000000 e2e@gureum"
BANNER = re.compile(r"gureum guest (?P<host>\S+) up, ssh root@(?P<ip>[0-9.]+) \(keys: (?P<keys>\d+)\)")


@pytest.fixture(scope="module")
def guest_image() -> GuestImage:
    return build_guest_image(default_cache_dir())


@pytest.fixture
def qemu_pids() -> Iterator[list[Path]]:
    pidfiles: list[Path] = []
    yield pidfiles
    for pidfile in pidfiles:
        try:
            os.kill(int(pidfile.read_text().strip()), signal.SIGKILL)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass


def test_a_real_guest_gets_dhcp_metadata_and_is_reachable_by_floating_ip(world: World, guest_image: GuestImage,
                                                                        qemu_pids: list[Path]) -> None:
    host = world.host()
    world.bridge(host, "br-ex")
    outside = world.outside(host, "203.0.113.1/24")
    external = network("203.0.113.0/24", network_type="flat", physical_network="external", dhcp_ip=None, mtu=1500)
    tenant = network("10.70.0.0/24", vni=170)
    ssh = group(DesiredRule("ingress", protocol="tcp", port_range_min=22, port_range_max=22), group_id="ssh")
    guest_port = port(tenant, "10.70.0.5", groups=[ssh.id], hostname="e2e-guest")
    floating = DesiredFloatingIp(id="fip-e2e", floating_ip="203.0.113.30", fixed_ip="10.70.0.5",
                                 port_id=guest_port.id)
    the_router = router(gateway=leg(external, "203.0.113.10"), interfaces=[leg(tenant, "10.70.0.1")],
                        gateway_nexthop="203.0.113.1", floating_ips=[floating])
    world.instances[(tenant.id, "10.70.0.5")] = InstanceMetadata(
        uuid="5a1f3c0e-0000-4000-8000-00000000e2e0", name="e2e-guest", hostname="e2e-guest",
        public_keys={"e2e": KEY}, ec2_instance_id="i-000000e2", local_ipv4="10.70.0.5")
    dataplane = world.dataplane(host)

    # apply() before QEMU: the tap exists, plugged and filtered, when QEMU opens it.
    seen = dataplane.apply(DesiredNetworking(networks=[external, tenant], ports=[guest_port],
                                             security_groups=[ssh], routers=[the_router]))
    assert seen.errors == {}
    assert seen.floating_ips_up == ["fip-e2e"]

    console = world.workdir / "console.log"
    pidfile = world.workdir / "qemu.pid"
    qemu_pids.append(pidfile)
    accel = detect_accel(cache_file=default_cache_dir() / "accel.json")
    subprocess.run([*dataplane.command_prefix(), QEMU_BINARY, *accel_arguments(accel), "-m", "128", "-smp", "1",
                    "-nodefaults", "-no-user-config", "-display", "none",
                    "-kernel", str(guest_image.kernel), "-initrd", str(guest_image.initrd),
                    "-append", guest_image.kernel_cmdline,
                    "-netdev", f"tap,id=net0,ifname={dataplane.tap_name(guest_port.id)},script=no,downscript=no",
                    "-device", f"virtio-net-pci,netdev=net0,mac={guest_port.mac},host_mtu={tenant.mtu}",
                    "-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=rng0",
                    "-serial", f"file:{console}", "-daemonize", "-pidfile", str(pidfile)],
                   check=True, timeout=60)

    def banner() -> re.Match[str] | None:
        return BANNER.search(console.read_text(errors="replace")) if console.exists() else None

    try:
        found = wait_for(banner, timeout=120, interval=0.5, what="the guest's banner")
    except AssertionError:
        raise AssertionError("no banner; console:\n" + console.read_text(errors="replace")[-3000:]) from None
    assert found["host"] == "e2e-guest"  # from the metadata service
    assert found["ip"] == "10.70.0.5"  # from DHCP
    assert found["keys"] == "1"  # the key from the metadata service
    try:
        answer = wait_for(lambda: outside.connect("203.0.113.30", 22, timeout=3), timeout=30,
                          what="ssh by floating IP")
    except AssertionError:
        raise AssertionError(_diagnose(world, the_router.id) + console.read_text(errors="replace")[-2000:]) from None
    assert answer.startswith("SSH-2.0-dropbear")


def _diagnose(world: World, router_id: str) -> str:
    """What the router and host namespaces hold, for a failure message."""
    router_ns, host = f"{world.prefix}qrouter-{router_id}", world.host()
    report = ""
    for argv in (["ip", "-n", router_ns, "addr"], ["ip", "-n", router_ns, "route"], ["ip", "-n", router_ns, "neigh"],
                 ["ip", "netns", "exec", router_ns, "python3", TCP_TOOL, "connect", "10.70.0.5", "22", "3"],
                 ["ip", "netns", "exec", router_ns, "cat", "/proc/net/nf_conntrack"],
                 ["ip", "netns", "exec", host, "cat", "/proc/net/nf_conntrack"],
                 ["ip", "netns", "exec", host, "nft", "list", "ruleset"], ["ip", "-n", host, "-s", "link"]):
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        report += f"$ {' '.join(argv)}\n{result.stdout[-3000:]}{result.stderr[-500:]}\n"
    return report
