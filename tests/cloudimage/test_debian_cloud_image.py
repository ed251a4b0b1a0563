"""A genuine Debian 12 cloud image (systemd, the real cloud-init 22.4, ifupdown) booted on gureum.

The image is built from Debian's packages by gureum.testing_cloudimage (cached
between runs). Two servers boot at once, each with a key pair, #cloud-config
user data and two NICs: the first on a network whose subnet runs DHCP (behind a
router, with a floating IP to ssh in from "the outside" namespace, as
tests/e2e do), the second on a `--no-dhcp` subnet, whose address the guest can
only learn from network_data.json. One server asks for a config drive, the
other does not and must find everything on the metadata service, which
cloud-init 22.4 on x86 accepts only with the SMBIOS product "OpenStack Nova".

The openstack CLI sends no config_drive at all for `--config-drive false` (Nova
once refused false), so this cloud is set up as Nova is by default
(`default_config_drive: false` in its gureum.yaml): a server that does not ask
gets no drive, and `--config-drive true` gets one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gureum.testing import (
    RunningCloud,
    remove_namespaces,
    remove_state,
    short_state_dir,
    start_cloud,
    wait_for,
    wait_for_compute,
)
from gureum.testing_cloudimage import CloudImage, debian_cloud_image, debootstrap_available
from tests.conftest import unique
from tests.e2e.netns import Outside

pytestmark = [
    pytest.mark.cloudimage,
    pytest.mark.slow,
    pytest.mark.skipif(not debootstrap_available(),
                       reason="debootstrap is not installed: the Debian 12 cloud image is built with it "
                              "(scripts/packages/test.txt lists it)"),
]

EXTERNAL_CIDR = "203.0.113.0/24"
UPSTREAM_IP = "203.0.113.1"
DHCP_CIDR = "10.30.0.0/24"
STATIC_CIDR = "10.31.0.0/24"
FLAVOR = "t2.micro"
# Under TCG a Debian boot to cloud-init's end takes about a minute alone; two boot at once.
CLOUD_INIT_TIMEOUT = 480
FINISHED = re.compile(r"Cloud-init v\. \S+ finished at .*?Datasource (\S+)")

USER_DATA = """\
#cloud-config
write_files:
  - path: /var/tmp/gureum-write-files
    content: "written by cloud-init from user data\\n"
runcmd:
  - [sh, -c, 'echo "runcmd ran as $(id -un) on $(hostname)" > /var/tmp/gureum-runcmd']
"""

VARIANTS = {"config-drive": True, "metadata-service": False}
EXPECTED_DATASOURCE = {"config-drive": "DataSourceConfigDrive", "metadata-service": "DataSourceOpenStack"}


@dataclass
class Guest:
    variant: str
    name: str
    id: str
    dhcp_ip: str
    static_ip: str
    floating_ip: str


@dataclass
class Booted:
    cloud: RunningCloud
    outside: Outside
    key: Path
    guests: dict[str, Guest]
    dhcp_net: str
    static_net: str
    timings: dict[str, float]
    image: CloudImage


@pytest.fixture(scope="module")
def image() -> CloudImage:
    return debian_cloud_image()


@pytest.fixture(scope="module")
def booted(image: CloudImage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Booted]:
    timings: dict[str, float] = {}
    started = time.monotonic()
    prefix = "gi" + os.urandom(3).hex()
    outside = Outside.create(prefix, bridge="br-provider", address=f"{UPSTREAM_IP}/24")
    state = short_state_dir("gic-")
    (state / "gureum.yaml").write_text("default_config_drive: false\n")
    cloud = start_cloud(state, "--agent-netns", outside.host_ns, "--agent-name-prefix", prefix,
                        "--bridge-mapping", "provider:br-provider")
    try:
        wait_for_compute(cloud)
        timings["cloud up"] = time.monotonic() - started
        yield _boot_two(cloud, outside, image, tmp_path_factory.mktemp("cloudimage"), timings)
    finally:
        cloud.stop()
        remove_state(state)
        remove_namespaces(prefix)


def _boot_two(cloud: RunningCloud, outside: Outside, image: CloudImage, tmp: Path,
              timings: dict[str, float]) -> Booted:
    run = cloud.openstack
    started = time.monotonic()
    image_name = unique("debian-12")
    run("image", "create", "--disk-format", "qcow2", "--container-format", "bare", "--file", str(image.path),
        "--property", "os_distro=debian", "--property", "os_version=12", image_name, timeout=600)
    timings["image upload"] = time.monotonic() - started

    ext, dhcp_net, static_net, router = unique("ext"), unique("dhcp-net"), unique("static-net"), unique("r")
    run("network", "create", ext, "--external", "--provider-physical-network", "provider",
        "--provider-network-type", "flat")
    run("subnet", "create", f"{ext}-s", "--network", ext, "--no-dhcp", "--subnet-range", EXTERNAL_CIDR,
        "--allocation-pool", "start=203.0.113.100,end=203.0.113.200", "--gateway", UPSTREAM_IP)
    run("network", "create", dhcp_net)
    run("subnet", "create", f"{dhcp_net}-s", "--network", dhcp_net, "--subnet-range", DHCP_CIDR)
    run("network", "create", static_net)
    # No gateway: the guest's default route stays the DHCP network's.
    run("subnet", "create", f"{static_net}-s", "--network", static_net, "--subnet-range", STATIC_CIDR,
        "--no-dhcp", "--gateway", "none")
    run("router", "create", router)
    run("router", "set", router, "--external-gateway", ext)
    run("router", "add", "subnet", router, f"{dhcp_net}-s")
    run("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22", "default")
    key_name, key = unique("key"), tmp / "key.pem"
    key.write_text(run("keypair", "create", key_name).stdout)
    key.chmod(0o600)
    user_data = tmp / "user-data.yaml"
    user_data.write_text(USER_DATA)

    started = time.monotonic()
    names = {variant: unique("deb12-" + variant.split("-")[0]) for variant in VARIANTS}
    for variant, config_drive in VARIANTS.items():
        run("server", "create", "--flavor", FLAVOR, "--image", image_name, "--nic", f"net-id={dhcp_net}",
            "--nic", f"net-id={static_net}", "--key-name", key_name, "--user-data", str(user_data),
            "--config-drive", str(config_drive).lower(), names[variant])
    guests = {}
    for variant, name in names.items():
        shown = wait_for(lambda name=name: (s := cloud.openstack_json("server", "show", name))["status"] == "ACTIVE"
                         and s, 300, 2, f"server {name} to be ACTIVE")
        dhcp_ip, static_ip = _fixed_ip(shown, dhcp_net), _fixed_ip(shown, static_net)
        fip = cloud.openstack_json("floating", "ip", "create", ext)["floating_ip_address"]
        run("server", "add", "floating", "ip", "--fixed-ip-address", dhcp_ip, name, fip)
        guests[variant] = Guest(variant=variant, name=name, id=shown["id"], dhcp_ip=dhcp_ip, static_ip=static_ip,
                                floating_ip=fip)
    timings["servers active"] = time.monotonic() - started
    timings["boot started"] = time.monotonic()
    return Booted(cloud=cloud, outside=outside, key=key, guests=guests, dhcp_net=dhcp_net, static_net=static_net,
                  timings=timings, image=image)


def _fixed_ip(server: dict[str, Any], network: str) -> str:
    addresses = server["addresses"]
    if isinstance(addresses, dict):
        found = addresses.get(network, [])
    else:  # older clients: "net=1.2.3.4; other=5.6.7.8"
        found = [a.split("=", 1)[1] for a in str(addresses).split("; ") if a.startswith(f"{network}=")]
    assert found, f"no address on {network} in {addresses}"
    return str(found[0]).split(",")[0].strip()


def _dhcp_port_ip(cloud: RunningCloud, network: str) -> str:
    ports = cloud.openstack_json("port", "list", "--network", network, "--device-owner", "network:dhcp")
    assert len(ports) == 1, ports
    fixed = ports[0]["Fixed IP Addresses"]
    if isinstance(fixed, list):
        return str(fixed[0]["ip_address"])
    return re.findall(r"ip_address='([^']+)'", str(fixed))[0]  # older clients: one formatted string


def console_output(cloud: RunningCloud, token: str, server_id: str) -> str:
    """The guest's serial console log, through Nova's os-getConsoleOutput (cheaper than the CLI)."""
    request = urllib.request.Request(f"{cloud.base_url}/compute/v2.1/servers/{server_id}/action",
                                     data=json.dumps({"os-getConsoleOutput": {}}).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "X-Auth-Token": token})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["output"]


def wait_for_cloud_init(cloud: RunningCloud, guest: Guest) -> tuple[str, str]:
    """Until cloud-init's closing line is on the console: (its datasource, the whole console)."""
    token = cloud.token()
    deadline = time.monotonic() + CLOUD_INIT_TIMEOUT
    console = ""
    while time.monotonic() < deadline:
        console = console_output(cloud, token, guest.id)
        if found := FINISHED.search(console):
            return found.group(1), console
        time.sleep(5)
    raise AssertionError(f"cloud-init did not finish on {guest.name} ({guest.variant}) within "
                         f"{CLOUD_INIT_TIMEOUT} s; its console's cloud-init lines:\n{_cloud_init_lines(console)}\n"
                         f"console tail:\n{console[-3000:]}")


def _cloud_init_lines(console: str) -> str:
    return "\n".join(line for line in console.splitlines() if "cloud-init" in line or "ci-info" in line)[-6000:]


def ssh(booted: Booted, guest: Guest, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """As the image's default user, with the server's key pair, from the outside to its floating IP."""
    return booted.outside.run(["ssh", "-i", str(booted.key), "-o", "StrictHostKeyChecking=no",
                               "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
                               f"debian@{guest.floating_ip}", command], timeout=timeout)


PROBE = ("grep ^nameserver /etc/resolv.conf; echo @@; hostname; echo @@; cat /var/tmp/gureum-write-files; echo @@; cat /var/tmp/gureum-runcmd; echo @@; "
         "ip -4 -o addr show; echo @@; sudo -n cloud-init status --long; echo @@; "
         "sudo -n cat /run/cloud-init/result.json; echo @@; cat /sys/class/dmi/id/product_name")
DIAGNOSE = ("sudo -n sh -c 'cat /etc/network/interfaces.d/*; ip route; cat /etc/resolv.conf; "
            "grep -E \"WARNING|ERROR|Traceback\" /var/log/cloud-init.log | tail -40'")


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_debian_cloud_image(booted: Booted, variant: str) -> None:
    cloud, guest = booted.cloud, booted.guests[variant]
    datasource, console = wait_for_cloud_init(cloud, guest)
    print(f"\n{variant}: cloud-init finished {time.monotonic() - booted.timings['boot started']:.0f} s after "
          f"both servers were ACTIVE ({datasource}); setup: "
          + ", ".join(f"{k} {v:.0f} s" for k, v in booted.timings.items() if k != "boot started")
          + f"; image {booted.image.path.name}, {booted.image.size_bytes / 2**20:.0f} MiB, "
          + ("built" if booted.image.built else "cached") + f" (its build took {booted.image.build_seconds} s)")
    assert datasource.startswith(EXPECTED_DATASOURCE[variant]), _cloud_init_lines(console)

    result = wait_for(lambda: (r := ssh(booted, guest, PROBE)).returncode == 0 and r, 60, 3,
                      f"ssh as debian with the key pair to {guest.name} at {guest.floating_ip}")
    nameservers, hostname, write_files, runcmd, addresses, status, result_json, product = result.stdout.split("@@\n")
    diagnosis = f"\nthe guest:\n{ssh(booted, guest, DIAGNOSE).stdout}\nconsole:\n{_cloud_init_lines(console)}"
    assert hostname.strip() == guest.name, diagnosis
    assert write_files.strip() == "written by cloud-init from user data", diagnosis
    assert runcmd.strip() == f"runcmd ran as root on {guest.name}", diagnosis
    assert f"inet {guest.dhcp_ip}/24 " in addresses, addresses + diagnosis
    assert f"inet {guest.static_ip}/24 " in addresses, addresses + diagnosis
    assert "status: done" in status, status + diagnosis
    assert json.loads(result_json)["v1"]["errors"] == [], result_json + diagnosis
    assert product.strip() == "OpenStack Nova", product  # SMBIOS type 1, as Nova's libvirt driver sets it
    # The DHCP subnet names no DNS servers: its DHCP port answers, and dhclient writes it to resolv.conf
    # (network_data.json has the link as ipv4_dhcp; ifupdown ignores its DNS services without resolvconf).
    assert nameservers.split() == ["nameserver", _dhcp_port_ip(cloud, booted.dhcp_net)], nameservers + diagnosis

    shown = cloud.openstack_json("server", "show", guest.name)
    assert shown["config_drive"] == ("True" if VARIANTS[variant] else ""), shown["config_drive"]
