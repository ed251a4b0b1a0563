"""The JSON Nova answers with for a server, per microversion."""

from __future__ import annotations

import hashlib
from typing import Any

from gureum.compute import states
from gureum.compute.api.common import links, microversion
from gureum.compute.api.flavors import embedded_flavor
from gureum.compute.models import Host, Instance
from gureum.http.endpoint import ApiRequest


def iso(when: Any) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None


def launched_iso(when: Any) -> str | None:
    """OS-SRV-USG timestamps carry microseconds and no zone, as Nova's do."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") if when else None


def host_id(instance: Instance, host: Host | None) -> str:
    """Nova's opaque hostId: equal for two servers of a project on the same host."""
    if host is None:
        return ""
    return hashlib.sha224((instance.project_id + host.hostname).encode()).hexdigest()


def fault_view(instance: Instance, is_admin: bool) -> dict[str, Any] | None:
    if not instance.fault or instance.vm_state not in (states.ERROR, states.DELETED):
        return None
    body = {"code": instance.fault.get("code", 500), "created": instance.fault.get("created"),
            "message": instance.fault.get("message", "")}
    if is_admin and instance.fault.get("details"):
        body["details"] = instance.fault["details"]
    return body


def summary(req: ApiRequest, instance: Instance) -> dict[str, Any]:
    return {"id": instance.uuid, "name": instance.name, "links": links(req, "servers", instance.uuid)}


def detail(req: ApiRequest, instance: Instance, host: Host | None, group_ids: list[str] | None = None,
           show_extra_specs: bool = False, addresses: dict[str, Any] | None = None,
           security_groups: list[str] | None = None, volumes: list[tuple[str, bool]] | None = None) -> dict[str, Any]:
    """The server as GET shows it. `security_groups`: the names on its ports (None: it has none);
    `volumes`: (volume id, delete_on_termination) of each volume attached."""
    mv = microversion(req)
    ctx = req.context
    is_admin = ctx.is_admin
    root = req.base_url
    status = states.status(instance.vm_state, instance.task_state)
    flavor: dict[str, Any]
    if mv.at_least(47):
        flavor = embedded_flavor(instance.flavor, req, show_extra_specs)
    else:
        flavor = {"id": instance.flavor.get("id"),
                  "links": [{"rel": "bookmark", "href": f"{root}/flavors/{instance.flavor.get('id')}"}]}
    body: dict[str, Any] = {
        "id": instance.uuid,
        "name": instance.name,
        "status": status,
        "tenant_id": instance.project_id,
        "user_id": instance.user_id,
        "metadata": dict(instance.metadata_items or {}),
        "hostId": host_id(instance, host),
        "image": {"id": instance.image_ref, "links": [{"rel": "bookmark", "href": f"{root}/images/{instance.image_ref}"}]}
        if instance.image_ref else "",
        "flavor": flavor,
        "created": iso(instance.created_at),
        "updated": iso(instance.updated_at),
        "addresses": addresses or {},
        "accessIPv4": instance.access_ip_v4 or "",
        "accessIPv6": instance.access_ip_v6 or "",
        "links": links(req, "servers", instance.uuid),
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": (host.availability_zone if host else instance.availability_zone) or "",
        "config_drive": "True" if instance.config_drive else "",
        "key_name": instance.key_name,
        "OS-SRV-USG:launched_at": launched_iso(instance.launched_at),
        "OS-SRV-USG:terminated_at": launched_iso(instance.terminated_at),
        "OS-EXT-STS:task_state": instance.task_state,
        "OS-EXT-STS:vm_state": instance.vm_state,
        "OS-EXT-STS:power_state": instance.power_state,
        # Nova adds delete_on_termination from 2.3.
        "os-extended-volumes:volumes_attached": [
            {"id": volume_id, **({"delete_on_termination": dot} if mv.at_least(3) else {})}
            for volume_id, dot in volumes or []],
        "security_groups": [{"name": name} for name in (
            instance.security_groups or [] if security_groups is None else security_groups)],
    }
    if security_groups is not None and not security_groups:
        # Nova shows the groups of the server's ports, and no key when they have none.
        del body["security_groups"]
    if status in ("BUILD", "ACTIVE"):
        body["progress"] = 100 if status == "ACTIVE" else 0
    if is_admin:
        body["OS-EXT-SRV-ATTR:host"] = host.hostname if host else None
        body["OS-EXT-SRV-ATTR:hypervisor_hostname"] = host.hostname if host else None
        body["OS-EXT-SRV-ATTR:instance_name"] = f"instance-{instance.uuid[:8]}"
        if mv.at_least(3):
            body.update({
                "OS-EXT-SRV-ATTR:reservation_id": instance.reservation_id,
                "OS-EXT-SRV-ATTR:launch_index": instance.launch_index,
                "OS-EXT-SRV-ATTR:hostname": instance.hostname,
                "OS-EXT-SRV-ATTR:kernel_id": "",
                "OS-EXT-SRV-ATTR:ramdisk_id": "",
                "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                "OS-EXT-SRV-ATTR:user_data": instance.user_data,
            })
    if mv.at_least(9):
        body["locked"] = instance.locked
    if mv.at_least(16) and is_admin:
        from gureum.compute.hosts import is_up  # noqa: PLC0415

        body["host_status"] = ("UP" if is_up(host) else "DOWN") if host else ""
    if mv.at_least(19):
        body["description"] = instance.description
    if mv.at_least(26):
        body["tags"] = list(instance.tags or [])
    if mv.at_least(63):
        body["trusted_image_certificates"] = None
    if mv.at_least(71) and group_ids is not None:
        body["server_groups"] = group_ids
    if mv.at_least(73):
        body["locked_reason"] = instance.locked_reason
    fault = fault_view(instance, is_admin)
    if fault:
        body["fault"] = fault
    return body


# What PUT /servers/{id} and the rebuild action show below 2.75: the server without
# the extension attributes GET adds (OS-EXT-*, OS-SRV-USG, key_name, security
# groups, config_drive, volumes) and with addresses reduced to addr and version.
# From 2.75 they show what GET shows.
_CORE_KEYS = frozenset({
    "id", "name", "status", "tenant_id", "user_id", "metadata", "hostId", "image", "flavor", "created",
    "updated", "addresses", "accessIPv4", "accessIPv6", "links", "OS-DCF:diskConfig", "progress", "fault",
    "locked", "description", "tags", "trusted_image_certificates", "server_groups", "locked_reason",
})


def updated(req: ApiRequest, instance: Instance, host: Host | None, group_ids: list[str] | None = None,
            **kwargs: Any) -> dict[str, Any]:
    body = detail(req, instance, host, group_ids, **kwargs)
    if microversion(req).at_least(75):
        return body
    core = {k: v for k, v in body.items() if k in _CORE_KEYS}
    core["addresses"] = {
        net: [{"addr": a.get("addr"), "version": a.get("version")} for a in entries]
        for net, entries in (body.get("addresses") or {}).items()
    }
    return core
