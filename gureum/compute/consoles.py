"""Serial consoles for Nova's os-remote-consoles: which node runs the guest, checked and
authorised here; the session itself is the console broker's."""

from __future__ import annotations

from typing import Any

from gureum.compute import states
from gureum.compute.models import Host, Instance
from gureum.console.broker import broker_of
from gureum.http.errors import Conflict, NotFound


def open_serial_console(cloud: Any, ctx: Any, instance_uuid: str) -> str:
    """A new console session for an ACTIVE server the caller may reach; its token."""
    with cloud.db.read() as session:
        instance = session.get(Instance, instance_uuid) if instance_uuid else None
        if instance is None or instance.deleted or (instance.project_id != ctx.project_id and not ctx.is_admin):
            raise NotFound(f"Instance {instance_uuid} could not be found.")
        cloud.policy.enforce(ctx, "os_compute_api:os-remote-consoles",
                             {"project_id": instance.project_id, "user_id": instance.user_id})
        host = session.get(Host, instance.host_id) if instance.host_id else None
        if instance.vm_state != states.ACTIVE or host is None:
            raise Conflict(f"Instance {instance_uuid} is not running: a serial console needs an ACTIVE server.")
        hostname = host.hostname
    return broker_of(cloud).create(hostname, instance_uuid).id
