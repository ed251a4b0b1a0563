"""Config drives are ISO 9660 images labelled config-2 with Nova's files, read back with isoinfo."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from gureum.agent.hypervisor import InstanceMetadata, build_config_drive

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMd0XB1cR6D3vdK1mXdJjvZVBa1kFS3Om6ZJ3N1RfsCD test@example\n"


def iso_file(iso: Path, path: str) -> bytes:
    return subprocess.run(["isoinfo", "-R", "-i", str(iso), "-x", path], capture_output=True, check=True).stdout


def iso_listing(iso: Path) -> list[str]:
    output = subprocess.run(["isoinfo", "-R", "-f", "-i", str(iso)], capture_output=True, text=True, check=True)
    return sorted(output.stdout.split())


def test_config_drive_has_label_and_nova_layout(tmp_path: Path) -> None:
    network = {"links": [{"id": "tap1", "type": "bridge", "ethernet_mac_address": "52:54:00:00:00:01"}],
               "networks": [{"id": "network0", "type": "ipv4_dhcp", "link": "tap1"}], "services": []}
    metadata = InstanceMetadata(uuid="0d9c3a8e-4c1e-4f07-9d0c-3f7a3c1f2b10", name="web 1", hostname="web-1",
                                public_keys={"mykey": KEY}, user_data=b"#!/bin/sh\necho hi\n",
                                network_data=network, project_id="p1", meta={"role": "web"})
    iso = build_config_drive(metadata, tmp_path / "disk.config")

    volume = subprocess.run(["isoinfo", "-d", "-i", str(iso)], capture_output=True, text=True, check=True).stdout
    assert "Volume id: config-2" in volume
    assert iso_listing(iso) == sorted([
        "/ec2", "/ec2/latest", "/ec2/latest/meta-data.json", "/ec2/latest/user-data",
        "/openstack", "/openstack/latest", "/openstack/latest/meta_data.json",
        "/openstack/latest/network_data.json", "/openstack/latest/user_data",
        "/openstack/latest/vendor_data.json", "/openstack/latest/vendor_data2.json",
    ])

    meta = json.loads(iso_file(iso, "/openstack/latest/meta_data.json"))
    assert meta["uuid"] == metadata.uuid and meta["hostname"] == "web-1" and meta["name"] == "web 1"
    assert meta["public_keys"] == {"mykey": KEY}
    assert meta["keys"] == [{"name": "mykey", "type": "ssh", "data": KEY}]
    assert meta["meta"] == {"role": "web"} and meta["project_id"] == "p1"
    assert len(meta["random_seed"]) > 600
    assert json.loads(iso_file(iso, "/openstack/latest/network_data.json")) == network
    assert iso_file(iso, "/openstack/latest/user_data") == b"#!/bin/sh\necho hi\n"

    ec2 = json.loads(iso_file(iso, "/ec2/latest/meta-data.json"))
    assert ec2["public-keys"] == {"0": {"openssh-key": KEY}}
    assert ec2["hostname"] == "web-1"


def test_optional_files_are_left_out(tmp_path: Path) -> None:
    iso = build_config_drive(InstanceMetadata(uuid="u", name="n", hostname="n"), tmp_path / "disk.config")
    listing = iso_listing(iso)
    assert "/openstack/latest/user_data" not in listing
    # No network_data.json: the guest falls back to DHCP rather than assuming no network.
    assert "/openstack/latest/network_data.json" not in listing
    assert json.loads(iso_file(iso, "/openstack/latest/meta_data.json"))["public_keys"] == {}
