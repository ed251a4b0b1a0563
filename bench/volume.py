"""Block storage figures on the agent side, printed (not timed tests).

  - volume create: empty, and from a 1 GiB image (qemu-img convert through the file backend);
  - snapshot: detached (qemu-img snapshot -c) and attached (QMP blockdev-snapshot-internal-sync);
  - QMP attach -> the disk is visible in a real TCG guest (its virtio serial in /sys/block);
  - sequential write and read of SIZE MiB inside the guest (busybox dd, 1 MiB blocks, fsync /
    O_DIRECT) on a local `file` volume, the same file over NBD with TLS-PSK (qemu-storage-daemon on
    127.0.0.1, a free port) and `rbd` (a one-node Ceph this script starts, when installed), each as a
    ratio to the same dd on the host's own file: the physical floor.

    .venv/bin/python bench/volume.py [--mib 1024] [--no-rbd]
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "agent"))

from agent_helpers import BANNER, guest_spec, wait_for_console  # noqa: E402
from volume_helpers import find_disk, in_guest, shell_ready  # noqa: E402

from gureum.agent.hypervisor import DiskSpec, QemuHypervisor, detect_accel  # noqa: E402
from gureum.agent.protocol import DesiredAttachment, DesiredExport, VolumeTransport  # noqa: E402
from gureum.agent.storage import GIB, FileBackend, LiveOwner  # noqa: E402
from gureum.agent.storage.nbd_export import NbdExporter  # noqa: E402
from gureum.agent.storage.rbd import RbdBackend  # noqa: E402
from gureum.agent.volume_disks import disk_for  # noqa: E402
from gureum.guest import build_guest_image, default_cache_dir  # noqa: E402
from gureum.testing_ceph import CephCluster, ceph_available  # noqa: E402


def timed(action) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    action()
    return time.monotonic() - started


def host_floor(directory: Path, mib: int) -> tuple[float, float]:
    target = directory / "floor.raw"
    write = timed(lambda: subprocess.run(["dd", "if=/dev/zero", f"of={target}", "bs=1M", f"count={mib}",
                                          "conv=fsync"], check=True, capture_output=True))
    read = timed(lambda: subprocess.run(["dd", f"if={target}", "of=/dev/null", "bs=1M", "iflag=direct"],
                                        check=True, capture_output=True))
    target.unlink()
    return write, read


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--no-rbd", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gbv-", dir="/tmp"))
    image = build_guest_image(default_cache_dir())
    hv = QemuHypervisor(work / "instances", accel=detect_accel(cache_file=default_cache_dir() / "accel.json"))
    files = FileBackend(work / "volumes")
    exporter: NbdExporter | None = None
    ceph: CephCluster | None = None
    try:
        floor_write, floor_read = host_floor(work, args.mib)
        print(f"host file, {args.mib} MiB: write {floor_write:.2f}s ({args.mib / floor_write:.0f} MiB/s), "
              f"read {floor_read:.2f}s ({args.mib / floor_read:.0f} MiB/s)")

        print(f"file volume create, empty 1 GiB: {timed(lambda: files.create_empty('empty', GIB)):.2f}s")
        source = work / "image.raw"
        subprocess.run(["dd", "if=/dev/urandom", f"of={source}", "bs=1M", "count=256"], check=True,
                       capture_output=True)
        subprocess.run(["truncate", "-s", "1G", str(source)], check=True)
        print("file volume create, from a 1 GiB raw image (256 MiB of data): "
              f"{timed(lambda: files.create_from_image('from-image', source, 2 * GIB)):.2f}s")
        print(f"snapshot, detached: {timed(lambda: files.create_snapshot('from-image', 's1', None)):.2f}s")

        instance_id = str(uuid.uuid4())
        hv.spawn(guest_spec(image, instance_id, direct_kernel=True))
        wait_for_console(hv, instance_id, BANNER, timeout_seconds=300)
        shell_ready(hv, instance_id)

        transports: list[tuple[str, DiskSpec]] = []
        volume_id = str(uuid.uuid4())
        files.create_empty(volume_id, 2 * GIB)
        transports.append(("file", disk_for(DesiredAttachment("a-file", volume_id, serial=volume_id), files,
                                            work / "keys")))
        nbd_volume = str(uuid.uuid4())
        files.create_empty(nbd_volume, 2 * GIB)
        port, key = free_port(), secrets.token_hex(32)
        exporter = NbdExporter(work / "nbd", files, "127.0.0.1", port)
        exporter.apply([DesiredExport("a-nbd", nbd_volume, "bench", psk_identity="bench", psk_key=key)])
        transports.append(("nbd+tls-psk", disk_for(DesiredAttachment(
            "a-nbd", nbd_volume, serial=nbd_volume, transport=VolumeTransport(
                kind="nbd", host="127.0.0.1", port=port, export="a-nbd", psk_identity="bench", psk_key=key)),
            files, work / "keys")))
        if not args.no_rbd and ceph_available() is None:
            started = time.monotonic()
            ceph = CephCluster(work / "ceph").start()
            print(f"one-node Ceph up in {time.monotonic() - started:.1f}s")
            rbd = RbdBackend("volumes", conf=ceph.conf, user="admin")
            rbd_volume = str(uuid.uuid4())
            print(f"rbd volume create, empty 2 GiB: {timed(lambda: rbd.create_empty(rbd_volume, 2 * GIB)):.2f}s")
            transports.append(("rbd", disk_for(DesiredAttachment(
                "a-rbd", rbd_volume, serial=rbd_volume, transport=VolumeTransport(kind="rbd")),
                files, work / "keys", rbd)))
        elif not args.no_rbd:
            print(f"rbd: skipped ({ceph_available()})")

        for label, disk in transports:
            started = time.monotonic()
            sync = hv.sync_disks(instance_id, [disk])
            returned = time.monotonic() - started
            assert sync.attached == [disk.attachment_id], sync
            device = in_guest(hv, instance_id, find_disk(disk.volume_id), "/dev/vd[a-z]+")
            seen = time.monotonic() - started
            if label == "file":
                owner = hv.volume_holders()[disk.volume_id]
                print(f"snapshot, attached (QMP): "
                      f"{timed(lambda: files.create_snapshot(disk.volume_id, 'live', LiveOwner(*owner))):.2f}s")
            write = timed(lambda: in_guest(hv, instance_id, f"dd if=/dev/zero of={device} bs=1M count={args.mib} "
                                           "conv=fsync 2>/dev/null;R=ok", "ok", timeout=3600))
            read = timed(lambda: in_guest(hv, instance_id, f"dd if={device} of=/dev/null bs=1M count={args.mib} "
                                          "iflag=direct 2>/dev/null;R=ok", "ok", timeout=3600))
            hv.sync_disks(instance_id, [])
            print(f"{label}: QMP attach {returned:.2f}s, guest sees {device} after {seen:.1f}s; "
                  f"{args.mib} MiB write {write:.1f}s ({args.mib / write:.0f} MiB/s, {write / floor_write:.1f}x the "
                  f"host file), read {read:.1f}s ({args.mib / read:.0f} MiB/s, {read / floor_read:.1f}x)")
    finally:
        for guest in hv.list_guests():
            hv.destroy(guest.instance_id)
        if exporter is not None:
            exporter.stop()
        if ceph is not None:
            ceph.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
