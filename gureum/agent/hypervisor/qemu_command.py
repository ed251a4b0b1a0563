"""The QEMU command line for a guest: a pure function of spec, paths and accelerator.

Choices that matter:
- -daemonize -pidfile: the guest outlives the agent, and the pidfile is exact.
- The serial console is a socket with a logfile: logged with nobody attached,
  attachable later (console proxy).
- NICs are taps the dataplane owns, or an isolated hub. Never -netdev user:
  slirp would let the guest's DHCP and metadata traffic leave the node.
- The config drive is a read-only virtio disk; guests find it by its label.
"""

from __future__ import annotations

import json
import uuid

from gureum import __version__
from gureum.agent.hypervisor.accel import QEMU_BINARY, Accel, accel_arguments
from gureum.agent.hypervisor.base import DiskSpec, GuestSpec, NicSpec
from gureum.agent.hypervisor.instance_files import InstancePaths

# seccomp: no obsolete syscalls, no scheduler or resource tweaks. -daemonize
# rules out stricter settings (QEMU 7.2): spawn=deny kills QEMU with SIGSYS
# when it forks; elevateprivileges=deny or =children make it exit 1 silently.
SANDBOX = "on,obsolete=deny,resourcecontrol=deny"


def qemu_argv(spec: GuestSpec, paths: InstancePaths, accel: Accel, incoming_fd: int | None = None,
              qemu_binary: str = QEMU_BINARY) -> list[str]:
    argv = [qemu_binary, "-name", f"guest={_escape(spec.name)}", *_uuid_arguments(spec.instance_id),
            "-machine", "pc", *accel_arguments(accel),
            "-m", str(spec.memory_mib), "-smp", str(spec.vcpus),
            "-nodefaults", "-no-user-config", "-display", "none", "-sandbox", SANDBOX,
            "-daemonize", "-pidfile", str(paths.pidfile),
            "-qmp", f"unix:{_escape(str(paths.qmp_socket))},server=on,wait=off",
            *_console_arguments(paths),
            *_disk_arguments(spec, paths),
            *_kernel_arguments(spec),
            *_nic_arguments(spec.nics),
            # Entropy from the host, so the guest can make its ssh host key at once.
            "-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=rng0"]
    if incoming_fd is not None:
        argv += ["-incoming", f"fd:{incoming_fd}"]
    return argv


def _escape(value: str) -> str:
    # In QEMU option strings a comma separates options; a literal one is doubled.
    return value.replace(",", ",,")


def _uuid_arguments(instance_id: str) -> list[str]:
    """The SMBIOS system (type 1) that Nova's libvirt driver gives every guest.

    cloud-init's ds-identify accepts the metadata service on x86 only when the
    product says OpenStack Nova; the system UUID (and, as Nova's default
    sysinfo_serial=unique, the serial) is the instance id.
    """
    try:
        instance_uuid = str(uuid.UUID(instance_id))
    except ValueError:
        return []
    system = {"manufacturer": "OpenStack Foundation", "product": "OpenStack Nova", "version": __version__,
              "serial": instance_uuid, "uuid": instance_uuid, "family": "Virtual Machine"}
    return ["-uuid", instance_uuid,
            "-smbios", ",".join(["type=1", *(f"{key}={_escape(value)}" for key, value in system.items())])]


def _console_arguments(paths: InstancePaths) -> list[str]:
    chardev = (f"socket,id=console0,path={_escape(str(paths.console_socket))},server=on,wait=off,"
               f"logfile={_escape(str(paths.console_log))},logappend=on")
    return ["-chardev", chardev, "-serial", "chardev:console0"]


def _disk_arguments(spec: GuestSpec, paths: InstancePaths) -> list[str]:
    arguments: list[str] = []
    if spec.root_disk_base is not None:
        root_device = "virtio-blk-pci,drive=root"
        if spec.kernel is None:
            root_device += ",bootindex=0"  # with -kernel, QEMU's own boot ROM holds index 0
        arguments += ["-drive", f"file={_escape(str(paths.disk))},format=qcow2,if=none,id=root,"
                                "discard=unmap,detect-zeroes=unmap",
                      "-device", root_device]
    for disk in spec.disks:
        arguments += volume_arguments(disk, boot=spec.kernel is None and spec.root_disk_base is None)
    if spec.config_drive is not None:
        arguments += ["-drive", f"file={_escape(str(paths.config_drive))},format=raw,if=none,id=config,"
                                "readonly=on",
                      "-device", "virtio-blk-pci,drive=config"]
    return arguments


def _kernel_arguments(spec: GuestSpec) -> list[str]:
    if spec.kernel is None:
        return []
    arguments = ["-kernel", str(spec.kernel)]
    if spec.initrd is not None:
        arguments += ["-initrd", str(spec.initrd)]
    if spec.kernel_cmdline:
        arguments += ["-append", spec.kernel_cmdline]
    return arguments


def _nic_arguments(nics: list[NicSpec]) -> list[str]:
    arguments = []
    for index, nic in enumerate(nics):
        if nic.tap is None:
            # Each unplugged NIC on its own hub: no path to anything, not even siblings.
            netdev = f"hubport,id=net{index},hubid={index}"
        else:
            netdev = f"tap,id=net{index},ifname={nic.tap},script=no,downscript=no"
        device = f"virtio-net-pci,netdev=net{index},mac={nic.mac}"
        if nic.mtu is not None:
            device += f",host_mtu={nic.mtu}"
        arguments += ["-netdev", netdev, "-device", device]
    return arguments


def volume_blockdev(disk: DiskSpec) -> dict:
    """blockdev-add's arguments for a volume (the same at launch and at hotplug)."""
    blockdev = {**disk.blockdev, "node-name": disk.node_name, "discard": "unmap"}
    if disk.readonly:
        blockdev["read-only"] = True
    return blockdev


def volume_device(disk: DiskSpec, boot: bool) -> dict:
    """device_add's arguments for a volume: virtio-blk with the volume id as its serial."""
    device: dict = {"driver": "virtio-blk-pci", "id": disk.device_id, "drive": disk.node_name,
                    "serial": disk.serial or disk.volume_id}
    if boot and disk.boot_index is not None:
        device["bootindex"] = disk.boot_index
    return device


def volume_arguments(disk: DiskSpec, boot: bool) -> list[str]:
    """A volume built in at launch: its objects, -blockdev and -device, in QEMU's JSON syntax."""
    arguments: list[str] = []
    for obj in disk.objects:
        arguments += ["-object", json.dumps(obj)]
    return [*arguments, "-blockdev", json.dumps(volume_blockdev(disk)),
            "-device", json.dumps(volume_device(disk, boot))]
