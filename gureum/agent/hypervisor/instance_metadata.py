"""The metadata documents a guest reads about itself, in Nova's shapes.

The same documents go on the config drive and, later, come from the metadata
service (networking issue), so they are built here once, as plain dicts.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class InstanceMetadata:
    uuid: str
    name: str
    hostname: str
    public_keys: dict[str, str] = field(default_factory=dict)  # key pair name -> OpenSSH public key
    user_data: bytes | None = None
    # Nova's network_data.json, built by the network service; None leaves it out.
    network_data: dict[str, Any] | None = None
    availability_zone: str = "nova"
    project_id: str = ""
    launch_index: int = 0
    meta: dict[str, str] = field(default_factory=dict)  # server metadata set by the user
    admin_pass: str | None = None
    ec2_instance_id: str = ""  # i-xxxxxxxx; Nova derives it from the database id
    instance_type: str = ""  # flavor name
    local_ipv4: str = ""


def openstack_meta_data(metadata: InstanceMetadata) -> dict[str, Any]:
    """openstack/latest/meta_data.json."""
    document: dict[str, Any] = {
        "uuid": metadata.uuid,
        "name": metadata.name,
        "hostname": metadata.hostname,
        "launch_index": metadata.launch_index,
        "availability_zone": metadata.availability_zone,
        "project_id": metadata.project_id,
        "meta": dict(metadata.meta),
        "public_keys": dict(metadata.public_keys),
        "keys": [{"name": name, "type": "ssh", "data": key} for name, key in metadata.public_keys.items()],
        "devices": [],
        "dedicated_cpus": [],
        # Nova gives every guest 512 bytes of seed for its RNG.
        "random_seed": base64.b64encode(os.urandom(512)).decode(),
    }
    if metadata.admin_pass is not None:
        document["admin_pass"] = metadata.admin_pass
    return document


def ec2_meta_data(metadata: InstanceMetadata) -> dict[str, Any]:
    """ec2/latest/meta-data.json, the EC2-style view of the same instance."""
    return {
        "ami-id": "",
        "ami-launch-index": metadata.launch_index,
        "ami-manifest-path": "FIXME",  # Nova's literal value
        "block-device-mapping": {"ami": "vda", "root": "/dev/vda"},
        "hostname": metadata.hostname,
        "instance-action": "none",
        "instance-id": metadata.ec2_instance_id,
        "instance-type": metadata.instance_type,
        "local-hostname": metadata.hostname,
        "local-ipv4": metadata.local_ipv4,
        "placement": {"availability-zone": metadata.availability_zone},
        "public-hostname": metadata.hostname,
        "public-ipv4": "",
        "public-keys": {str(index): {"openssh-key": key}
                        for index, key in enumerate(metadata.public_keys.values())},
        "reservation-id": "",
        "security-groups": [],
    }


def config_drive_files(metadata: InstanceMetadata) -> dict[str, bytes]:
    """Path on the drive -> contents, for the 'latest' version Nova also writes."""
    files = {
        "openstack/latest/meta_data.json": _json(openstack_meta_data(metadata)),
        "openstack/latest/vendor_data.json": _json({}),
        "openstack/latest/vendor_data2.json": _json({}),
        "ec2/latest/meta-data.json": _json(ec2_meta_data(metadata)),
    }
    if metadata.network_data is not None:
        # Without it, guests fall back to DHCP on their first NIC.
        files["openstack/latest/network_data.json"] = _json(metadata.network_data)
    if metadata.user_data is not None:
        files["openstack/latest/user_data"] = metadata.user_data
        files["ec2/latest/user-data"] = metadata.user_data
    return files


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()
