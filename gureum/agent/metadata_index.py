"""What the metadata service tells each guest, looked up by its network and address.

Rebuilt from the desired state on every pass, so the metadata service answers
from the same record the config drive was written from.
"""

from __future__ import annotations

import base64
import threading

from gureum.agent.hypervisor import InstanceMetadata
from gureum.agent.protocol import DesiredInstance


def metadata_of(want: DesiredInstance) -> InstanceMetadata:
    first_ip = next((ip for nic in want.nics for ip in nic.fixed_ips if ":" not in ip), "")
    return InstanceMetadata(
        uuid=want.uuid,
        name=want.name,
        hostname=want.hostname,
        public_keys=dict(want.public_keys),
        user_data=base64.b64decode(want.user_data) if want.user_data else None,
        availability_zone=want.availability_zone,
        project_id=want.project_id,
        launch_index=want.launch_index,
        meta=dict(want.metadata),
        instance_type=want.flavor_name,
        # Nova derives the EC2 id from a database number; the uuid's head is as stable.
        ec2_instance_id="i-" + want.uuid.replace("-", "")[:8],
        local_ipv4=first_ip,
        network_data=want.network_data,
    )


class MetadataIndex:
    def __init__(self) -> None:
        self._by_address: dict[tuple[str, str], InstanceMetadata] = {}
        self._lock = threading.Lock()

    def update(self, instances: list[DesiredInstance]) -> None:
        index: dict[tuple[str, str], InstanceMetadata] = {}
        for want in instances:
            metadata = metadata_of(want)
            for nic in want.nics:
                for address in nic.fixed_ips:
                    index[(nic.network_id, address)] = metadata
        with self._lock:
            self._by_address = index

    def lookup(self, network_id: str, address: str) -> InstanceMetadata | None:
        """Called from the metadata server's threads."""
        with self._lock:
            return self._by_address.get((network_id, address))
