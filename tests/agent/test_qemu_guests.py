"""Real guests under real QEMU (TCG here): boot, power actions, adoption, ssh.

Each test boots the test guest at 128 MiB and 1 vCPU and reads the serial
console for the banner the guest prints once ssh is up.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from agent_helpers import (
    BANNER,
    OwnNamespace,
    config_drive_for,
    dhcp_network_data,
    guest_spec,
    new_instance_id,
    no_network_data,
    random_mac,
    wait_for_console,
)

from gureum.agent.hypervisor import GuestNotFound, GuestSpec, HypervisorError, NicSpec, PowerState, QemuHypervisor
from gureum.guest import GuestImage

pytestmark = pytest.mark.slow

POWER_BUTTON = re.compile(r"power button pressed")
INIT_STARTED = re.compile(r"gureum guest: \[[0-9.]+\] init started")


def qemu_processes_for(hypervisor: QemuHypervisor, instance_id: str) -> list[int]:
    """Every process whose command line names this guest's pidfile (there must be at most one)."""
    pidfile = str(hypervisor.instances_dir / instance_id / "qemu.pid").encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if pidfile in argv and state != "Z":
                found.append(int(entry.name))
    return found


def type_on_console(hypervisor: QemuHypervisor, instance_id: str, line: str) -> None:
    """Type a line into the guest's root shell on the serial console."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as console:
        console.connect(str(hypervisor.instances_dir / instance_id / "console.sock"))
        console.sendall(line.encode() + b"\n")
        time.sleep(0.5)  # let QEMU take it before we hang up


def test_boots_from_disk_with_config_drive_then_stops_gracefully(
    hypervisor: QemuHypervisor, guest_image: GuestImage, ssh_key: Path, tmp_path: Path
) -> None:
    instance_id = new_instance_id()
    drive = config_drive_for(instance_id, "diskboot", ssh_key.with_suffix(".pub").read_text(), tmp_path,
                             network_data=no_network_data(),
                             user_data=b"#!/bin/sh\necho user-data-ran-$((6 * 7))\n")
    started = time.monotonic()
    observed = hypervisor.spawn(guest_spec(guest_image, instance_id, config_drive=drive))
    assert observed.power_state is PowerState.RUNNING and observed.pid is not None

    banner = wait_for_console(hypervisor, instance_id, BANNER)
    print(f"disk boot: banner after {time.monotonic() - started:.1f}s")
    assert banner["host"] == "diskboot"  # hostname came from the config drive
    log = hypervisor.console_log(instance_id)
    assert "SYSLINUX" in log  # it really booted from the disk, through the boot loader
    assert "(keys: 1)" in log  # exactly our one key reached authorized_keys
    wait_for_console(hypervisor, instance_id, re.compile("user-data-ran-42"))
    assert [guest.instance_id for guest in hypervisor.list_running()] == [instance_id]

    started = time.monotonic()
    stopped = hypervisor.stop(instance_id, timeout_seconds=60)
    print(f"graceful stop took {time.monotonic() - started:.1f}s")
    assert stopped.power_state is PowerState.SHUTDOWN and stopped.pid is None
    assert POWER_BUTTON.search(hypervisor.console_log(instance_id)), "stopped hard, not through ACPI"
    assert "reboot: Power down" in hypervisor.console_log(instance_id)
    assert hypervisor.list_running() == []

    # Start again from the same disk and spec.
    assert hypervisor.start(instance_id).power_state is PowerState.RUNNING
    wait_for_console(hypervisor, instance_id, BANNER, count=2)

    instance_dir = hypervisor.instances_dir / instance_id
    hypervisor.destroy(instance_id)
    assert not instance_dir.exists()
    assert qemu_processes_for(hypervisor, instance_id) == []
    assert list(hypervisor.instances_dir.iterdir()) == []
    with pytest.raises(GuestNotFound):
        hypervisor.observe(instance_id)


def test_direct_kernel_boot_and_hard_stop(
    hypervisor: QemuHypervisor, guest_image: GuestImage, ssh_key: Path, tmp_path: Path
) -> None:
    instance_id = new_instance_id()
    drive = config_drive_for(instance_id, "kernelboot", ssh_key.with_suffix(".pub").read_text(), tmp_path,
                             network_data=no_network_data())
    started = time.monotonic()
    hypervisor.spawn(guest_spec(guest_image, instance_id, direct_kernel=True, config_drive=drive))
    assert wait_for_console(hypervisor, instance_id, BANNER)["host"] == "kernelboot"
    print(f"kernel boot: banner after {time.monotonic() - started:.1f}s")
    assert "SYSLINUX" not in hypervisor.console_log(instance_id)

    started = time.monotonic()
    assert hypervisor.stop(instance_id, timeout_seconds=0).power_state is PowerState.SHUTDOWN
    assert time.monotonic() - started < 10
    assert not POWER_BUTTON.search(hypervisor.console_log(instance_id))
    assert qemu_processes_for(hypervisor, instance_id) == []


def test_guest_without_config_drive_or_network_still_boots(
    hypervisor: QemuHypervisor, guest_image: GuestImage
) -> None:
    instance_id = new_instance_id()
    hypervisor.spawn(guest_spec(guest_image, instance_id, direct_kernel=True, nics=[NicSpec(mac=random_mac())]))
    banner = wait_for_console(hypervisor, instance_id, BANNER)
    assert banner["host"] == "gureum" and banner["ip"] is None
    assert "(keys: 0)" in hypervisor.console_log(instance_id)


def test_new_hypervisor_object_adopts_running_guest(
    hypervisor: QemuHypervisor, guest_image: GuestImage, tmp_path: Path
) -> None:
    instance_id = new_instance_id()
    spec = guest_spec(guest_image, instance_id, direct_kernel=True,
                      config_drive=config_drive_for(instance_id, "adopted", None, tmp_path,
                                                    network_data=no_network_data()))
    # The agent that starts the guest is another process, and it exits.
    agent = subprocess.run([sys.executable, "-c", SPAWN_AND_EXIT, str(hypervisor.instances_dir),
                            hypervisor.accel.value, json.dumps(spec_as_json(spec))],
                           capture_output=True, text=True, timeout=120)
    assert agent.returncode == 0, agent.stderr
    first_pid = int(agent.stdout)

    # The agent restarts: a new object that knows nothing but the directory.
    restarted = QemuHypervisor(hypervisor.instances_dir, accel=hypervisor.accel)
    running = restarted.list_running()
    assert [(guest.instance_id, guest.pid) for guest in running] == [(instance_id, first_pid)]
    # Desired state says "running": spawning again must not start a second QEMU.
    assert restarted.spawn(spec).pid == first_pid
    assert restarted.start(instance_id).pid == first_pid
    assert qemu_processes_for(restarted, instance_id) == [first_pid]
    wait_for_console(restarted, instance_id, BANNER)

    restarted.destroy(instance_id)
    assert qemu_processes_for(restarted, instance_id) == []
    assert hypervisor.list_guests() == []


SPAWN_AND_EXIT = """
import json, sys
from pathlib import Path
from gureum.agent.hypervisor import Accel, GuestSpec, NicSpec, QemuHypervisor
values = json.loads(sys.argv[3])
values["nics"] = [NicSpec(**nic) for nic in values["nics"]]
for key in ("root_disk_base", "kernel", "initrd", "config_drive"):
    values[key] = Path(values[key]) if values[key] else None
print(QemuHypervisor(Path(sys.argv[1]), accel=Accel(sys.argv[2])).spawn(GuestSpec(**values)).pid)
"""


def spec_as_json(spec: GuestSpec) -> dict:
    values = dataclasses.asdict(spec)
    return {key: str(value) if isinstance(value, Path) else value for key, value in values.items()}


def test_pause_suspend_resume_and_reboots(hypervisor: QemuHypervisor, guest_image: GuestImage,
                                          tmp_path: Path) -> None:
    instance_id = new_instance_id()
    drive = config_drive_for(instance_id, "power", None, tmp_path, network_data=no_network_data())
    hypervisor.spawn(guest_spec(guest_image, instance_id, direct_kernel=True, config_drive=drive))
    wait_for_console(hypervisor, instance_id, BANNER)

    assert hypervisor.pause(instance_id).power_state is PowerState.PAUSED
    assert hypervisor.unpause(instance_id).power_state is PowerState.RUNNING

    suspended = hypervisor.suspend(instance_id)
    assert suspended.power_state is PowerState.SUSPENDED and suspended.pid is None
    assert qemu_processes_for(hypervisor, instance_id) == []
    assert (hypervisor.instances_dir / instance_id / "memory.state").stat().st_size > 0
    assert [guest.power_state for guest in hypervisor.list_guests()] == [PowerState.SUSPENDED]

    resumed = hypervisor.resume(instance_id)
    assert resumed.power_state is PowerState.RUNNING
    assert not (hypervisor.instances_dir / instance_id / "memory.state").exists()
    # The same kernel carries on (no second boot) and its shell still answers.
    type_on_console(hypervisor, instance_id, "echo resumed-$((40 + 2))")
    wait_for_console(hypervisor, instance_id, re.compile("resumed-42"), timeout_seconds=30)
    assert len(INIT_STARTED.findall(hypervisor.console_log(instance_id, max_bytes=10**7))) == 1

    rebooted = hypervisor.reboot(instance_id, hard=False, timeout_seconds=60)
    assert rebooted.power_state is PowerState.RUNNING
    assert POWER_BUTTON.search(hypervisor.console_log(instance_id))  # soft: asked the guest first
    wait_for_console(hypervisor, instance_id, BANNER, count=2)
    assert len(INIT_STARTED.findall(hypervisor.console_log(instance_id, max_bytes=10**7))) == 2

    first_pid = rebooted.pid
    hard = hypervisor.reboot(instance_id, hard=True)
    assert hard.power_state is PowerState.RUNNING and hard.pid != first_pid
    wait_for_console(hypervisor, instance_id, BANNER, count=3)
    assert qemu_processes_for(hypervisor, instance_id) == [hard.pid]

    # Running with nothing saved: resume is a no-op, as reconciling desired state needs.
    assert hypervisor.resume(instance_id).pid == hard.pid
    hypervisor.stop(instance_id, timeout_seconds=0)
    with pytest.raises(HypervisorError, match="not suspended"):
        hypervisor.resume(instance_id)
    hypervisor.destroy(instance_id)


@pytest.mark.parametrize("key_source", ["config_drive", "metadata_service"])
def test_ssh_with_the_injected_key(netns: OwnNamespace, host_tap: str, hypervisor: QemuHypervisor,
                                   guest_image: GuestImage, ssh_key: Path, tmp_path: Path,
                                   key_source: str) -> None:
    """The guest leases an address over its tap (a DHCP responder in the test's
    own namespace) and lets in exactly the key it was given."""
    instance_id, mac = new_instance_id(), random_mac()
    public_key = ssh_key.with_suffix(".pub").read_text().strip()
    drive = None
    if key_source == "config_drive":
        drive = config_drive_for(instance_id, "sshguest", public_key, tmp_path,
                                 network_data=dhcp_network_data(mac, host_tap))
    started = time.monotonic()
    hypervisor.spawn(guest_spec(guest_image, instance_id, direct_kernel=True, config_drive=drive,
                                nics=[NicSpec(mac=mac, tap=host_tap)]))
    netns.adopt_tap(host_tap, "192.0.2.1/24")
    # As neutron's dnsmasq does on VXLAN: MTU 1450, and option 121 with the metadata
    # route, which (RFC 3442) must carry the default route too.
    netns.start_dhcp(host_tap, "192.0.2.1", "192.0.2.10", mtu=1450,
                     routes="169.254.169.254/32=192.0.2.1,198.51.100.0/24=192.0.2.1,0.0.0.0/0=192.0.2.1")
    if key_source == "metadata_service":
        serve_ec2_metadata(netns, host_tap, tmp_path / "metadata", public_key, hostname="mdguest",
                           user_data="#!/bin/sh\necho metadata-user-data-ran\n")

    banner = wait_for_console(hypervisor, instance_id, BANNER)
    assert banner["ip"] == "192.0.2.10"
    assert banner["host"] == ("sshguest" if key_source == "config_drive" else "mdguest")
    output = ssh_until_ready(netns, ssh_key, "192.0.2.10", "hostname; cat /sys/class/net/eth0/mtu; ip -4 route")
    print(f"ssh ({key_source}) answered {time.monotonic() - started:.1f}s after spawn")
    hostname, mtu, *routes = output.splitlines()
    assert hostname == banner["host"] and mtu == "1450"
    assert "default via 192.0.2.1 dev eth0" in [route.strip() for route in routes]
    assert any(route.startswith("169.254.169.254 via 192.0.2.1") for route in routes)
    assert any(route.startswith("198.51.100.0/24 via 192.0.2.1") for route in routes)
    assert "(keys: 1)" in hypervisor.console_log(instance_id)
    if key_source == "metadata_service":
        wait_for_console(hypervisor, instance_id, re.compile("metadata-user-data-ran"), timeout_seconds=30)

    # A key the guest was not given is refused.
    other_key = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True)
    refused = netns.run(*ssh_command(other_key, "192.0.2.10", "true"), check=False)
    assert refused.returncode == 255 and "Permission denied" in refused.stderr


def serve_ec2_metadata(netns: OwnNamespace, interface: str, tree: Path, public_key: str, hostname: str,
                       user_data: str) -> None:
    """The EC2 paths the guest reads, served at 169.254.169.254 inside the namespace."""
    files = {"latest/meta-data/instance-id": "i-00000001",
             "latest/meta-data/hostname": f"{hostname}.novalocal",
             "latest/meta-data/public-keys/0/openssh-key": public_key,  # no newline: the guest adds it
             "latest/user-data": user_data}
    for relative, text in files.items():
        (tree / relative).parent.mkdir(parents=True, exist_ok=True)
        (tree / relative).write_text(text)
    subprocess.run(["ip", "-n", netns.name, "addr", "add", "169.254.169.254/32", "dev", interface], check=True)
    netns.start(sys.executable, "-m", "http.server", "80", "--bind", "169.254.169.254", "--directory", str(tree))


def ssh_command(private_key: Path, address: str, command: str) -> list[str]:
    return ["ssh", "-i", str(private_key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR",
            f"root@{address}", command]


def ssh_until_ready(netns: OwnNamespace, private_key: Path, address: str, command: str,
                    timeout_seconds: float = 60) -> str:
    deadline = time.monotonic() + timeout_seconds
    while True:
        result = netns.run(*ssh_command(private_key, address, command), check=False)
        if result.returncode == 0:
            return result.stdout
        if time.monotonic() > deadline:
            raise AssertionError(f"ssh root@{address} kept failing: {result.stderr.strip()}")
        time.sleep(1)
