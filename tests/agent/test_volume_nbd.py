"""A `file` volume of host A in a guest of host B: qemu-storage-daemon on A exports it over
NBD with TLS-PSK, B's QEMU reaches it with blockdev-add (nbd + tls-creds-psk). Two network
namespaces this test makes stand for the two hosts."""

from __future__ import annotations

import secrets
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_helpers import BANNER, guest_spec, new_instance_id, wait_for_console
from volume_helpers import WRITE, find_disk, in_guest, shell_ready

from gureum.agent.client import ControllerClient
from gureum.agent.hypervisor import Accel, QemuHypervisor
from gureum.agent.imagecache import ImageCache
from gureum.agent.protocol import (
    DesiredAttachment,
    DesiredExport,
    DesiredInstance,
    DesiredVolume,
    VolumeTransport,
)
from gureum.agent.volume_node import volume_parts
from gureum.agent.volume_disks import write_psk
from gureum.guest import GuestImage

pytestmark = pytest.mark.slow


@pytest.fixture
def two_hosts() -> Iterator[tuple[str, str, str, str]]:
    """Namespaces A and B joined by a veth pair: (netns A, address A, netns B, address B)."""
    tag = secrets.token_hex(3)
    a, b = f"gva-{tag}", f"gvb-{tag}"
    octet = secrets.randbelow(200) + 20
    address_a, address_b = f"10.251.{octet}.1", f"10.251.{octet}.2"
    for name in (a, b):
        subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "link", "add", f"va{tag}", "netns", a, "type", "veth", "peer", "name", f"vb{tag}",
                        "netns", b], check=True)
        for name, device, address in ((a, f"va{tag}", address_a), (b, f"vb{tag}", address_b)):
            for command in (["addr", "add", f"{address}/30", "dev", device], ["link", "set", device, "up"],
                            ["link", "set", "lo", "up"]):
                subprocess.run(["ip", "-n", name, *command], check=True)
        yield a, address_a, b, address_b
    finally:
        for name in (a, b):
            subprocess.run(["ip", "netns", "del", name], check=False)


def nbd_probe(netns: str, psk_dir: Path, identity: str, address: str, export: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ip", "netns", "exec", netns, "qemu-img", "info", "--object",
         f"tls-creds-psk,id=tls0,endpoint=client,dir={psk_dir},username={identity}", "--image-opts",
         f"driver=raw,file.driver=nbd,file.server.type=inet,file.server.host={address},file.server.port=10809,"
         f"file.export={export},file.tls-creds=tls0"], capture_output=True, text=True, timeout=60)


def test_volume_of_host_a_in_a_guest_of_host_b(two_hosts: tuple[str, str, str, str], accel: Accel,
                                               guest_image: GuestImage, instances_dir: Path) -> None:
    netns_a, address_a, netns_b, address_b = two_hosts
    state_a, state_b = instances_dir / "a", instances_dir / "b"
    client = ControllerClient("http://127.0.0.1:9", "unused")
    host_a = QemuHypervisor(state_a / "instances", accel=accel, command_prefix=["ip", "netns", "exec", netns_a])
    volumes_a, _ = volume_parts(state_a, host_a, ImageCache(state_a / "image-cache", client), client,
                                storage_address=address_a, command_prefix=["ip", "netns", "exec", netns_a])
    host_b = QemuHypervisor(state_b / "instances", accel=accel, command_prefix=["ip", "netns", "exec", netns_b])
    _, guests_b = volume_parts(state_b, host_b, ImageCache(state_b / "image-cache", client), client)
    volume_id, attachment_id = str(uuid.uuid4()), str(uuid.uuid4())
    key = secrets.token_hex(32)
    export = DesiredExport(attachment_id, volume_id, client_host="host-b", psk_identity="host-b", psk_key=key)
    volume = DesiredVolume(volume_id, size_gb=1)
    instance_id = new_instance_id()
    try:
        volumes_a.apply([volume], [export])
        assert volumes_a.exports.up == [attachment_id], volumes_a.exports
        assert volumes_a.exporter is not None and volumes_a.exporter.address == f"{address_a}:10809"

        # Only the right key opens it.
        assert nbd_probe(netns_b, write_psk(instances_dir / "good", "host-b", key), "host-b", address_a,
                         attachment_id).returncode == 0
        wrong = nbd_probe(netns_b, write_psk(instances_dir / "bad", "host-b", secrets.token_hex(32)), "host-b",
                          address_a, attachment_id)
        assert wrong.returncode != 0 and "TLS" in wrong.stderr, wrong.stderr
        # No TLS at all is refused too.
        plain = subprocess.run(["ip", "netns", "exec", netns_b, "qemu-img", "info",
                                f"nbd://{address_a}:10809/{attachment_id}"], capture_output=True, text=True)
        assert plain.returncode != 0

        host_b.spawn(guest_spec(guest_image, instance_id, direct_kernel=True))
        wait_for_console(host_b, instance_id, BANNER)
        shell_ready(host_b, instance_id)
        want = DesiredInstance(
            uuid=instance_id, name="vm", hostname="vm", project_id="p", vcpus=1, memory_mb=128, root_gb=0,
            image_id="img", power="running",
            volumes=[DesiredAttachment(attachment_id, volume_id, serial=volume_id, transport=VolumeTransport(
                kind="nbd", host=address_a, port=10809, export=attachment_id, psk_identity="host-b",
                psk_key=key))])
        synced = guests_b.sync(want)
        assert synced.attached == [attachment_id] and synced.errors == {}, synced
        disk = in_guest(host_b, instance_id, find_disk(volume_id), "/dev/vd[a-z]+")
        in_guest(host_b, instance_id, f"D={disk};" + WRITE.format("over-nbd"), "ok")

        # A snapshot while exported goes through the daemon that holds the volume.
        volumes_a.apply([DesiredVolume(volume_id, size_gb=1, snapshots=["s1"])], [export])
        assert [v.snapshots for v in volumes_a.observe()] == [["s1"]]

        detached = guests_b.sync(DesiredInstance(**{**want.__dict__, "volumes": []}))
        assert detached.attached == [] and detached.detach_pending == []
        volumes_a.apply([DesiredVolume(volume_id, size_gb=1, snapshots=["s1"])], [])
        assert volumes_a.exports.up == [] and volumes_a.exporter.running() is None  # no exports: no daemon
        read = subprocess.run(["qemu-io", "-r", "-f", "qcow2", "-c", "read -v 0 16",
                               str(state_a / "volumes" / f"{volume_id}.qcow2")], capture_output=True, text=True)
        assert "6f 76 65 72 2d 6e 62 64" in read.stdout, read.stdout  # "over-nbd"
    finally:
        for guest in host_b.list_guests():
            host_b.destroy(guest.instance_id)
        if volumes_a.exporter is not None:
            volumes_a.exporter.stop()
        volumes_a.close()
