"""Volumes in a real TCG guest: hotplug over QMP, data across detach/re-attach,
a live snapshot and a revert, a live extend, and the volume built in at the next launch."""

from __future__ import annotations

import dataclasses
import time
import uuid

import pytest
from agent_helpers import BANNER, guest_spec, new_instance_id, wait_for_console
from volume_helpers import READ, WRITE, find_disk, in_guest, shell_ready

from gureum.agent.client import ControllerClient
from gureum.agent.hypervisor import QemuHypervisor
from gureum.agent.imagecache import ImageCache
from gureum.agent.protocol import DesiredAttachment, DesiredInstance, DesiredVolume, VolumeSource
from gureum.agent.storage import GIB
from gureum.agent.volume_node import volume_parts
from gureum.guest import GuestImage

pytestmark = pytest.mark.slow


def test_file_volume_hotplug_snapshot_revert_and_cold_boot(hypervisor: QemuHypervisor,
                                                           guest_image: GuestImage) -> None:
    state = hypervisor.instances_dir.parent
    client = ControllerClient("http://127.0.0.1:9", "unused")  # empty volumes need no controller
    volumes, guest_volumes = volume_parts(state, hypervisor, ImageCache(state / "image-cache", client), client)
    volume_id, attachment_id = str(uuid.uuid4()), str(uuid.uuid4())
    instance_id = new_instance_id()
    spec = guest_spec(guest_image, instance_id, direct_kernel=True)
    hypervisor.spawn(spec)
    wait_for_console(hypervisor, instance_id, BANNER)
    shell_ready(hypervisor, instance_id)

    def want(attached: bool) -> DesiredInstance:
        return DesiredInstance(uuid=instance_id, name="vm", hostname="vm", project_id="p", vcpus=1,
                               memory_mb=128, root_gb=0, image_id="img", power="running",
                               volumes=[DesiredAttachment(attachment_id, volume_id, serial=volume_id)]
                               if attached else [])

    volumes.apply([DesiredVolume(volume_id, size_gb=1)])
    volume_file = state / "volumes" / f"{volume_id}.qcow2"
    assert volume_file.exists()

    started = time.monotonic()
    assert guest_volumes.sync(want(True)).attached == [attachment_id]
    attach_returned = time.monotonic() - started
    disk = in_guest(hypervisor, instance_id, find_disk(volume_id), "/dev/vd[a-z]+")
    print(f"QMP attach returned in {attach_returned:.2f}s; the guest saw {disk} after "
          f"{time.monotonic() - started:.1f}s")
    write, read = WRITE, READ
    in_guest(hypervisor, instance_id, f"D={disk};" + write.format("first-data"), "ok")

    # Detach: the guest lets go, the node and file are free again.
    started = time.monotonic()
    detached = guest_volumes.sync(want(False))
    assert detached.attached == [] and detached.detach_pending == [] and detached.errors == {}
    print(f"detach (device_del .. DEVICE_DELETED .. blockdev-del) took {time.monotonic() - started:.1f}s")
    assert hypervisor.volume_holders() == {}

    # Re-attach: the data is there. Snapshot it live, write more, detach, revert: the old data is back.
    assert guest_volumes.sync(want(True)).attached == [attachment_id]
    disk = in_guest(hypervisor, instance_id, find_disk(volume_id), "/dev/vd[a-z]+")
    assert in_guest(hypervisor, instance_id, f"D={disk};{read}", "[a-z-]*") == "first-data"
    assert volumes.owner_of(volume_id) is not None
    volumes.apply([DesiredVolume(volume_id, size_gb=1, snapshots=["snap-1"])])  # via the guest's QEMU
    assert [v.snapshots for v in volumes.observe()] == [["snap-1"]]
    in_guest(hypervisor, instance_id, f"D={disk};" + write.format("later-data"), "ok")

    # Extend while attached (block_resize): the guest sees 2 GiB.
    volumes.apply([DesiredVolume(volume_id, size_gb=2, snapshots=["snap-1"])])
    sectors = in_guest(hypervisor, instance_id, f"for i in $(seq 300);do R=$(cat /sys/block/{disk[5:]}/size);"
                       "[ $R = 4194304 ]&&break;sleep .2;done", "[0-9]+")
    assert int(sectors) * 512 == 2 * GIB

    guest_volumes.sync(want(False))
    volumes.apply([DesiredVolume(volume_id, size_gb=2, snapshots=["snap-1"], revert_count=1,
                                 revert_snapshot_id="snap-1")])
    [observed] = volumes.observe()
    assert observed.revert_count == 1 and observed.error is None
    assert observed.size_gb == 2  # reverted to 1 GiB, grown back to what is desired
    assert guest_volumes.sync(want(True)).attached == [attachment_id]
    disk = in_guest(hypervisor, instance_id, find_disk(volume_id), "/dev/vd[a-z]+")
    assert in_guest(hypervisor, instance_id, f"D={disk};{read}", "[a-z-]*") == "first-data"

    # Stopped, the guest needs no QMP: it starts again with the volume built in.
    hypervisor.stop(instance_id, timeout_seconds=0)
    assert guest_volumes.sync(want(True)).attached == [attachment_id]
    hypervisor.start(instance_id)
    wait_for_console(hypervisor, instance_id, BANNER, count=2)
    shell_ready(hypervisor, instance_id)
    disk = in_guest(hypervisor, instance_id, find_disk(volume_id), "/dev/vd[a-z]+")
    assert in_guest(hypervisor, instance_id, f"D={disk};{read}", "[a-z-]*") == "first-data"
    assert guest_volumes.sync(want(True)).attached == [attachment_id]  # adopted: nothing plugged twice

    # Unwanted while attached: kept (and said why) until the guest lets go, then deleted.
    volumes.apply([])
    volumes.remove_unwanted()
    assert volume_file.exists() and "still attached" in (volumes.errors.get(volume_id) or "")
    guest_volumes.sync(want(False))
    volumes.remove_unwanted()
    assert not volume_file.exists() and volumes.observe() == []
    volumes.close()


def test_boot_from_a_volume_made_from_the_image(hypervisor: QemuHypervisor, guest_image: GuestImage) -> None:
    state = hypervisor.instances_dir.parent
    client = ControllerClient("http://127.0.0.1:9", "unused")
    images = ImageCache(state / "image-cache", client)
    volumes, guest_volumes = volume_parts(state, hypervisor, images, client)
    images.path_of("guest").symlink_to(guest_image.disk)  # as if fetched
    volume_id, attachment_id, instance_id = str(uuid.uuid4()), str(uuid.uuid4()), new_instance_id()
    wanted = [DesiredVolume(volume_id, size_gb=1, source=VolumeSource(kind="image", id="guest"))]
    volumes.apply(wanted)
    volumes.wait_idle()
    volumes.apply(wanted)
    assert [v.present for v in volumes.observe()] == [True]
    want = DesiredInstance(uuid=instance_id, name="bfv", hostname="bfv", project_id="p", vcpus=1, memory_mb=128,
                           root_gb=0, image_id="", power="running",
                           volumes=[DesiredAttachment(attachment_id, volume_id, serial=volume_id, boot_index=0)])
    spec = guest_spec(guest_image, instance_id)
    hypervisor.spawn(dataclasses.replace(spec, root_disk_base=None, disks=guest_volumes.disks(want)[0]))
    wait_for_console(hypervisor, instance_id, BANNER)
    assert "SYSLINUX" in hypervisor.console_log(instance_id)  # the boot loader on the volume
    assert not (hypervisor.instances_dir / instance_id / "disk").exists()
    assert guest_volumes.sync(want).attached == [attachment_id]
    volumes.close()
