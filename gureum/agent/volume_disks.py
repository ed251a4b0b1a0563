"""A desired attachment as the DiskSpec of its guest: how QEMU reaches the volume.

file: the volume's qcow2 on this host. nbd: another host's qemu-storage-daemon export
(raw over NBD, TLS-PSK with this host's key, reconnecting so a daemon restart only
pauses I/O). rbd: Ceph through QEMU's userspace driver (qemu-block-extra). No kernel
initiator, no /dev/sdX.
"""

from __future__ import annotations

import os
from pathlib import Path

from gureum.agent.hypervisor import DiskSpec
from gureum.agent.hypervisor.hotplug import object_args
from gureum.agent.protocol import DesiredAttachment
from gureum.agent.storage import VolumeBackend, VolumeError, node_name

NBD_RECONNECT_DELAY_SECONDS = 10


def disk_for(attachment: DesiredAttachment, file_backend: VolumeBackend, keys_dir: Path,
             rbd_backend: VolumeBackend | None = None) -> DiskSpec:
    transport = attachment.transport
    node = node_name(attachment.volume_id)
    common = dict(attachment_id=attachment.attachment_id, volume_id=attachment.volume_id, node_name=node,
                  serial=attachment.serial or attachment.volume_id, boot_index=attachment.boot_index,
                  readonly=attachment.readonly)
    if transport.kind == "file":
        return DiskSpec(blockdev=file_backend.blockdev(attachment.volume_id), live_owner=True, **common)
    if transport.kind == "nbd":
        psk_dir = write_psk(keys_dir / attachment.attachment_id, transport.psk_identity, transport.psk_key)
        tls = object_args("tls-creds-psk", node, endpoint="client", dir=str(psk_dir),
                          username=transport.psk_identity)
        return DiskSpec(
            blockdev={"driver": "raw", "file": {
                "driver": "nbd", "server": {"type": "inet", "host": transport.host, "port": str(transport.port)},
                "export": transport.export or attachment.attachment_id, "tls-creds": tls["id"],
                "reconnect-delay": NBD_RECONNECT_DELAY_SECONDS}},
            objects=[tls], **common)
    if transport.kind == "rbd" and not (transport.mon_host or transport.conf) and rbd_backend is not None:
        # The controller named no cluster: this host's own Ceph settings reach it.
        return DiskSpec(blockdev=rbd_backend.blockdev(attachment.volume_id), live_owner=True, **common)
    if transport.kind == "rbd":
        rbd: dict = {"driver": "rbd", "pool": transport.pool, "image": transport.image,
                     "user": transport.user or "admin"}
        objects = []
        if transport.secret:
            secret = object_args("secret", node, data=transport.secret, format="base64")
            objects.append(secret)
            rbd["key-secret"] = secret["id"]
        if transport.mon_host:
            rbd["server"] = [{"host": h.rsplit(":", 1)[0], "port": h.rsplit(":", 1)[1] if ":" in h else "6789"}
                             for h in transport.mon_host.split(",") if h]
        if transport.conf:
            rbd["conf"] = transport.conf
        return DiskSpec(blockdev={"driver": "raw", "file": rbd}, objects=objects, live_owner=True, **common)
    raise VolumeError(f"unknown volume transport {transport.kind!r}")


def write_psk(directory: Path, identity: str, key_hex: str) -> Path:
    """QEMU's tls-creds-psk reads `<dir>/keys.psk` ("identity:hexkey" lines)."""
    if not identity or not key_hex:
        raise VolumeError("the NBD transport has no PSK identity and key")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / "keys.psk"
    content = f"{identity}:{key_hex}\n"
    if not path.exists() or path.read_text() != content:
        temporary = directory / ".keys.psk.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(content)
        os.replace(temporary, path)
    return directory
