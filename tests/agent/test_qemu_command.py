"""The QEMU command line: what every guest gets, and what none may get."""

from __future__ import annotations

from pathlib import Path

import pytest

from gureum import __version__
from gureum.agent.hypervisor import GuestSpec, HypervisorError, NicSpec
from gureum.agent.hypervisor.accel import Accel
from gureum.agent.hypervisor.instance_files import instance_paths
from gureum.agent.hypervisor.qemu_command import qemu_argv

INSTANCE_ID = "6f1c2b7e-8a57-4a43-9b1e-2f4f3f1e9a10"


def spec(**changes: object) -> GuestSpec:
    values: dict = dict(instance_id=INSTANCE_ID, name="web", vcpus=2, memory_mib=256,
                        root_disk_base=Path("/images/base.qcow2"))
    values.update(changes)
    return GuestSpec(**values)


def argv_for(guest: GuestSpec, accel: Accel = Accel.TCG) -> list[str]:
    return qemu_argv(guest, instance_paths(Path("/var/lib/gureum/instances"), guest.instance_id), accel)


def option_values(argv: list[str], flag: str) -> list[str]:
    return [value for option, value in zip(argv, argv[1:]) if option == flag]


def test_daemonized_with_pidfile_qmp_and_logged_serial_console() -> None:
    argv = argv_for(spec())
    root = f"/var/lib/gureum/instances/{INSTANCE_ID}"
    assert "-daemonize" in argv
    assert option_values(argv, "-pidfile") == [f"{root}/qemu.pid"]
    assert option_values(argv, "-qmp") == [f"unix:{root}/qmp.sock,server=on,wait=off"]
    assert option_values(argv, "-chardev") == [
        f"socket,id=console0,path={root}/console.sock,server=on,wait=off,logfile={root}/console.log,logappend=on"]
    assert option_values(argv, "-serial") == ["chardev:console0"]
    assert option_values(argv, "-uuid") == [INSTANCE_ID]
    assert option_values(argv, "-m") == ["256"] and option_values(argv, "-smp") == ["2"]
    assert option_values(argv, "-accel") == ["tcg,tb-size=32"]


def test_smbios_system_says_openstack_nova_as_cloud_init_needs() -> None:
    # ds-identify turns the metadata service on for x86 guests only on this product name.
    [smbios] = option_values(argv_for(spec()), "-smbios")
    fields = dict(item.split("=", 1) for item in smbios.split(","))
    assert fields == {"type": "1", "manufacturer": "OpenStack Foundation", "product": "OpenStack Nova",
                      "version": __version__, "serial": INSTANCE_ID, "uuid": INSTANCE_ID,
                      "family": "Virtual Machine"}


def test_root_disk_is_the_overlay_in_the_instance_dir_never_the_image() -> None:
    drives = option_values(argv_for(spec()), "-drive")
    assert drives[0].startswith(f"file=/var/lib/gureum/instances/{INSTANCE_ID}/disk,format=qcow2,")
    assert not any("/images/base.qcow2" in drive for drive in drives)


def test_nics_are_taps_or_isolated_hubs_never_user_networking() -> None:
    argv = argv_for(spec(nics=[NicSpec(mac="52:54:00:00:00:01", tap="tap1234", mtu=1450),
                               NicSpec(mac="52:54:00:00:00:02")]))
    assert option_values(argv, "-netdev") == ["tap,id=net0,ifname=tap1234,script=no,downscript=no",
                                              "hubport,id=net1,hubid=1"]
    assert "virtio-net-pci,netdev=net0,mac=52:54:00:00:00:01,host_mtu=1450" in argv
    assert not any(value.startswith("user") for value in option_values(argv, "-netdev"))
    assert "-nic" not in argv and "-net" not in argv  # no default NIC either


def test_config_drive_is_read_only_and_kernel_boot_is_optional() -> None:
    argv = argv_for(spec(config_drive=Path("/somewhere/cd.iso"), kernel=Path("/k"), initrd=Path("/i"),
                         kernel_cmdline="console=ttyS0"))
    config = [drive for drive in option_values(argv, "-drive") if "id=config" in drive]
    assert config == [f"file=/var/lib/gureum/instances/{INSTANCE_ID}/disk.config,format=raw,if=none,id=config,"
                      "readonly=on"]
    assert option_values(argv, "-kernel") == ["/k"] and option_values(argv, "-append") == ["console=ttyS0"]
    # With -kernel, QEMU's boot ROM takes bootindex 0; the disk must not claim it too.
    assert "virtio-blk-pci,drive=root" in argv
    assert "virtio-blk-pci,drive=root,bootindex=0" in argv_for(spec())


def test_commas_in_names_cannot_inject_options() -> None:
    argv = argv_for(spec(name="evil,debug-threads=on"))
    assert option_values(argv, "-name") == ["guest=evil,,debug-threads=on"]


@pytest.mark.parametrize("bad_id", ["../etc", "a/b", "", ".hidden", "x" * 65])
def test_instance_ids_that_are_not_plain_names_are_refused(bad_id: str) -> None:
    with pytest.raises(HypervisorError):
        instance_paths(Path("/var/lib/gureum/instances"), bad_id)


def test_instances_dir_too_long_for_unix_sockets_is_refused() -> None:
    with pytest.raises(HypervisorError, match="unix socket"):
        instance_paths(Path("/" + "d" * 80), INSTANCE_ID)


def test_volumes_are_built_in_and_boot_from_volume_has_no_root_disk() -> None:
    import json

    from gureum.agent.hypervisor import DiskSpec

    volume = DiskSpec(attachment_id="a1", volume_id="11111111-2222-3333-4444-555555555555",
                      node_name="v" + "1" * 30, blockdev={"driver": "raw", "file": {"driver": "nbd"}},
                      objects=[{"qom-type": "tls-creds-psk", "id": "tls-v" + "1" * 30}], boot_index=0)
    with_root = argv_for(spec(disks=[volume]))
    assert any("file=/var/lib/gureum/instances" in d for d in option_values(with_root, "-drive"))
    device = json.loads(option_values(with_root, "-device")[1])
    assert device == {"driver": "virtio-blk-pci", "id": f"volume-{volume.volume_id}", "drive": volume.node_name,
                      "serial": volume.volume_id}  # the image's disk boots; the volume is a data disk
    bfv = argv_for(spec(root_disk_base=None, disks=[volume]))
    assert option_values(bfv, "-drive") == []
    assert json.loads(option_values(bfv, "-blockdev")[0])["node-name"] == volume.node_name
    assert json.loads(option_values(bfv, "-object")[0])["qom-type"] == "tls-creds-psk"
    assert {"bootindex": 0}.items() <= json.loads(option_values(bfv, "-device")[0]).items()
