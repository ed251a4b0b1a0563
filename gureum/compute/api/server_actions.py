"""POST /v2.1/servers/{id}/action: power, reboot, rebuild, resize, snapshot, console, lock."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.compute.addresses import addresses_of, security_group_names, server_ports
from gureum.compute import scheduler, states
from gureum.compute.api import server_views as views
from gureum.compute.api.common import microversion
from gureum.compute.api.server_extras import _meta_items
from gureum.compute.api.servers import _check_image_fits, _image_id, _user_data, access_ip, load_instance, target
from gureum.compute.flavors import find_flavor, flavor_snapshot
from gureum.compute.keypairs import get_keypair
from gureum.compute.models import Host, Instance
from gureum.compute.quotas import check_quota
from gureum.http.endpoint import ApiRequest, endpoint
from gureum.image.views import BASE_KEYS
from gureum.http.errors import ApiError, BadRequest, Conflict, NotFound
from gureum.network.service import network_service

Action = Callable[[ApiRequest, Instance, Any], Any]


def _state_conflict(action: str, instance: Instance, attr: str = "vm_state", value: Any = None) -> Conflict:
    state = value if value is not None else getattr(instance, attr)
    return Conflict(f"Cannot '{action}' instance {instance.uuid} while it is in {attr} {state}")


def _require(action: str, instance: Instance, vm_states: tuple[str, ...], task_states: tuple[Any, ...] = (None,)) -> None:
    if instance.vm_state not in vm_states:
        raise _state_conflict(action, instance)
    if instance.task_state not in task_states:
        raise _state_conflict(action, instance, "task_state")


def _not_locked(req: ApiRequest, instance: Instance) -> None:
    """Nova's check_instance_lock: a locked server takes actions from admins only (its owner may unlock)."""
    if instance.locked and not req.context.is_admin:
        raise Conflict(f"Instance {instance.uuid} is locked")


def _power(action: str, policy: str, vm_states: tuple[str, ...], desired: str, task: str) -> Action:
    def run(req: ApiRequest, instance: Instance, _body: Any) -> None:
        req.cloud.policy.enforce(req.context, policy, target(instance))
        _not_locked(req, instance)
        _require(action, instance, vm_states)
        req.cloud.compute.change(req.context, instance.uuid, action, desired_power=desired, task_state=task)

    return run


def reboot(req: ApiRequest, instance: Instance, body: Any) -> None:
    req.cloud.policy.enforce(req.context, "os_compute_api:servers:reboot", target(instance))
    kind = str((body or {}).get("type", "")).upper() if isinstance(body, dict) else ""
    if kind not in ("SOFT", "HARD"):
        raise BadRequest("Invalid input for field/attribute type. Value: %s. 'type' must be one of SOFT, HARD" % kind)
    _not_locked(req, instance)
    hard = kind == "HARD"
    allowed = (states.ACTIVE, states.STOPPED, states.PAUSED, states.SUSPENDED, states.ERROR) if hard else (states.ACTIVE,)
    tasks: tuple[Any, ...] = (None, "rebooting", "reboot_pending", "reboot_started") if hard else (None,)
    _require("reboot", instance, allowed, tasks)
    req.cloud.compute.change(
        req.context, instance.uuid, "reboot",
        reboot_count=instance.reboot_count + 1, reboot_hard=hard, desired_power="running",
        task_state="rebooting_hard" if hard else "rebooting",
        vm_state=states.ACTIVE if instance.vm_state != states.ACTIVE else instance.vm_state,
    )


def rebuild(req: ApiRequest, instance: Instance, body: Any) -> Any:
    req.cloud.policy.enforce(req.context, "os_compute_api:servers:rebuild", target(instance))
    if not isinstance(body, dict) or not body.get("imageRef"):
        raise BadRequest("Invalid input for field/attribute rebuild. Value: ... 'imageRef' is a required property")
    _not_locked(req, instance)
    _require("rebuild", instance, (states.ACTIVE, states.STOPPED, states.ERROR))
    mv = microversion(req)
    image_id = _image_id(str(body["imageRef"]))
    image, _path = req.cloud.image.image_for_server(req.context, image_id)
    _check_image_fits(image, instance.flavor)
    values: dict[str, Any] = {
        "image_ref": image_id,
        "rebuild_count": instance.rebuild_count + 1,
        "task_state": "rebuilding",
        "desired_power": "running" if instance.vm_state != states.STOPPED else "stopped",
        "fault": None,
    }
    if instance.vm_state == states.ERROR:
        values["vm_state"] = states.ACTIVE
    if "name" in body:
        values["name"] = str(body["name"])
    if "metadata" in body:
        if not isinstance(body["metadata"], dict):
            raise BadRequest("Invalid input for field/attribute metadata: expected an object.")
        values["metadata_items"] = {str(k): str(v) for k, v in body["metadata"].items()}
    if "description" in body and mv.at_least(19):
        values["description"] = body["description"]
    if "key_name" in body and mv.at_least(54):
        if body["key_name"] is None:
            values["key_name"], values["key_data"] = None, None
        else:
            with req.cloud.db.read() as session:
                keypair = get_keypair(session, instance.user_id, str(body["key_name"]))
            values["key_name"], values["key_data"] = keypair.name, keypair.public_key
    if "user_data" in body and mv.at_least(57):
        values["user_data"] = _user_data(body["user_data"])
    if "accessIPv4" in body:
        values["access_ip_v4"] = access_ip(body["accessIPv4"], 4)
    if "accessIPv6" in body:
        values["access_ip_v6"] = access_ip(body["accessIPv6"], 6)
    updated = req.cloud.compute.change(req.context, instance.uuid, "rebuild", **values)
    with req.cloud.db.read() as session:
        host = session.get(Host, updated.host_id) if updated.host_id else None
        fresh = session.get(Instance, instance.uuid)
        shown = fresh or updated
        server = views.updated(req, shown, host, _group_ids(shown),
                               addresses=addresses_of(session, [shown]).get(shown.uuid),
                               security_groups=security_group_names(session, [shown]).get(shown.uuid))
    # Below 2.75 rebuild shows key_name (2.54) and user_data (2.57) beyond PUT's shape;
    # from 2.75 it shows what GET does, with user_data in place of OS-EXT-SRV-ATTR:user_data.
    server.pop("OS-EXT-SRV-ATTR:user_data", None)
    if mv.at_least(54):
        server["key_name"] = shown.key_name
    if mv.at_least(57):
        server["user_data"] = shown.user_data
    server["adminPass"] = body.get("adminPass") or secrets.token_urlsafe(9)
    return 202, {"server": server}


def _group_ids(instance: Instance) -> list[str]:
    return [instance.server_group_id] if instance.server_group_id else []


def resize(req: ApiRequest, instance: Instance, body: Any) -> None:
    req.cloud.policy.enforce(req.context, "os_compute_api:servers:resize", target(instance))
    if not isinstance(body, dict) or "flavorRef" not in body:
        raise BadRequest("Invalid input for field/attribute resize. Value: ... 'flavorRef' is a required property")
    _not_locked(req, instance)
    _require("resize", instance, (states.ACTIVE, states.STOPPED))
    compute = req.cloud.compute
    with req.cloud.db.session() as session:
        flavor_ref = str(body["flavorRef"] or "").rstrip("/").rsplit("/", 1)[-1]
        try:
            flavor = find_flavor(session, flavor_ref, req.context)
        except NotFound as exc:
            # Nova: an unknown flavor in a resize is a bad request, not a missing server.
            raise BadRequest(f"Unable to find flavor: {exc}") from exc
        new = flavor_snapshot(flavor)
        old = dict(instance.flavor)
        if new["id"] == old.get("id"):
            raise BadRequest("When resizing, instances must change flavor!")
        if new["disk"] < old["disk"]:
            raise BadRequest("Resize error: Unable to resize disk down.")
        check_quota(session, instance.project_id, {"cores": max(0, new["vcpus"] - old["vcpus"]),
                                                   "ram": max(0, new["ram"] - old["ram"])})
        fresh = session.get(Instance, instance.uuid)
        assert fresh is not None
        new["image_properties"] = old.get("image_properties", {})
        demand = compute.demand_for(session, fresh, new)
        if not scheduler.reclaim(session, instance.uuid, demand):
            host = session.get(Host, fresh.host_id) if fresh.host_id else None
            where = host.hostname if host else "its host"
            raise ApiError(f"No valid host was found. {flavor.name} needs {new['ram']} MB RAM and "
                           f"{new['vcpus']} vCPU(s), more than {where} has free.", status=400)
    compute.change(req.context, instance.uuid, "resize", flavor=new, old_flavor=old,
                   resize_count=instance.resize_count + 1, task_state="resize_migrating")


def confirm_resize(req: ApiRequest, instance: Instance, _body: Any) -> Any:
    req.cloud.policy.enforce(req.context, "os_compute_api:servers:confirm_resize", target(instance))
    _require("confirmResize", instance, (states.RESIZED,))
    req.cloud.compute.change(req.context, instance.uuid, "confirmResize", old_flavor=None,
                             vm_state=states.VM_STATE_FOR_DESIRED[instance.desired_power])
    return 204, None  # Nova answers confirmResize with 204, unlike the other actions


def revert_resize(req: ApiRequest, instance: Instance, _body: Any) -> None:
    req.cloud.policy.enforce(req.context, "os_compute_api:servers:revert_resize", target(instance))
    _require("revertResize", instance, (states.RESIZED,))
    old = instance.old_flavor or instance.flavor
    compute = req.cloud.compute
    with req.cloud.db.session() as session:
        fresh = session.get(Instance, instance.uuid)
        assert fresh is not None
        demand = compute.demand_for(session, fresh, old)
        if not scheduler.reclaim(session, instance.uuid, demand):
            raise Conflict("The old flavor no longer fits on the host; confirm the resize instead.")
    compute.change(req.context, instance.uuid, "revertResize", flavor=old, old_flavor=None,
                   resize_count=instance.resize_count + 1, task_state="resize_reverting")


def _base_min_ram(req: ApiRequest, instance: Instance) -> int:
    """A snapshot needs the RAM its base image needed, as Nova carries min_ram over."""
    if not instance.image_ref:
        return 0
    try:
        return int(req.cloud.image.get_image(req.context, instance.image_ref).get("min_ram") or 0)
    except ApiError:
        return 0  # the base image is gone or hidden from the caller: nothing to carry over


def create_image(req: ApiRequest, instance: Instance, body: Any) -> Any:
    req.cloud.policy.enforce(req.context, "os_compute_api:servers:create_image", target(instance))
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"].strip():
        raise BadRequest("Invalid input for field/attribute createImage. Value: ... 'name' is a required property")
    _require("createImage", instance, (states.ACTIVE, states.STOPPED, states.PAUSED, states.SUSPENDED))
    metadata = {} if body.get("metadata") is None else _meta_items(body["metadata"])
    reserved = sorted(set(metadata) & BASE_KEYS)
    if reserved:
        raise BadRequest(f"Invalid input for field/attribute metadata: {', '.join(reserved)} is an image attribute, "
                         "not metadata.")
    # The caller's metadata goes over what the snapshot says of itself, as in Nova (image_type too).
    properties = {"image_type": "snapshot", "instance_uuid": instance.uuid, "base_image_ref": instance.image_ref,
                  "owner_user_name": req.context.user_name, "owner_project_name": req.context.project_name or "",
                  **metadata}
    image = req.cloud.image.create_image(
        req.context,
        {"name": body["name"], "disk_format": "qcow2", "container_format": "bare", "visibility": "private",
         "min_disk": instance.flavor.get("disk", 0), "min_ram": _base_min_ram(req, instance), **properties},
    )
    requests = [*(instance.snapshot_requests or []), {"image_id": image["id"], "name": body["name"]}]
    req.cloud.compute.change(req.context, instance.uuid, "createImage", snapshot_requests=requests,
                             task_state="image_snapshot")
    location = f"{req.cloud.settings.base_url}/image/v2/images/{image['id']}"
    if microversion(req).at_least(45):
        return 202, {"image_id": image["id"]}
    return 202, None, {"Location": location}


def console_output(req: ApiRequest, instance: Instance, body: Any) -> dict[str, Any]:
    req.cloud.policy.enforce(req.context, "os_compute_api:os-console-output", target(instance))
    length = (body or {}).get("length") if isinstance(body, dict) else None
    if instance.vm_state == states.BUILDING and not instance.host_id:
        raise Conflict(f"Instance {instance.uuid} has no console yet: it is not on a host.")
    text = req.cloud.compute.console_tail(instance.uuid)
    if length not in (None, "", -1, "-1"):
        try:
            lines = int(length)
        except (TypeError, ValueError) as exc:
            raise BadRequest(f"Invalid input for field/attribute length. Value: {length}.") from exc
        if lines < -1:
            raise BadRequest(f"Invalid input for field/attribute length. Value: {length}.")
        text = "\n".join(text.splitlines()[-lines:]) if lines > 0 else ""
    return 200, {"output": text}


def lock(req: ApiRequest, instance: Instance, body: Any) -> None:
    req.cloud.policy.enforce(req.context, "os_compute_api:os-lock-server:lock", target(instance))
    reason = (body or {}).get("locked_reason") if isinstance(body, dict) and microversion(req).at_least(73) else None
    req.cloud.compute.change(req.context, instance.uuid, "lock", locked=True, locked_reason=reason)


def unlock(req: ApiRequest, instance: Instance, _body: Any) -> None:
    req.cloud.policy.enforce(req.context, "os_compute_api:os-lock-server:unlock", target(instance))
    req.cloud.compute.change(req.context, instance.uuid, "unlock", locked=False, locked_reason=None)


def reset_state(req: ApiRequest, instance: Instance, body: Any) -> None:
    req.cloud.policy.enforce(req.context, "os_compute_api:os-admin-actions:reset_state", target(instance))
    state = (body or {}).get("state") if isinstance(body, dict) else None
    if state not in ("active", "error"):
        raise BadRequest("Invalid input for field/attribute state: must be 'active' or 'error'.")
    req.cloud.compute.change(req.context, instance.uuid, "resetState", vm_state=state, task_state=None)


def restore(req: ApiRequest, instance: Instance, _body: Any) -> None:
    """Deletes are immediate (no reclaim_instance_interval): no server is ever SOFT_DELETED to restore."""
    req.cloud.policy.enforce(req.context, "os_compute_api:os-deferred-delete:restore", target(instance))
    raise _state_conflict("restore", instance)


def force_delete(req: ApiRequest, instance: Instance, _body: Any) -> None:
    req.cloud.policy.enforce(req.context, "os_compute_api:servers:delete", target(instance))
    req.cloud.compute.delete(req.context, instance.uuid)


def _group_ref(body: Any) -> str:
    """The group an add/removeSecurityGroup names, checked as Nova checks it."""
    if not isinstance(body, dict):
        raise BadRequest("Missing parameter dict")
    if "name" not in body:
        raise BadRequest("Security group not specified")
    name = body["name"]
    if not isinstance(name, str):
        raise BadRequest(f"Invalid input for field/attribute name. Value: {name!r}. {name!r} is not of type 'string'")
    if not name.strip():
        raise BadRequest("Security group name cannot be empty")
    return name


def _change_security_group(req: ApiRequest, instance: Instance, body: Any, adding: bool) -> None:
    """Add a group to every port of the server, or take it off every port that has it (Nova on neutron).

    One transaction: a port that cannot take the group leaves all of them as they were.
    The agents see the port changes by themselves and rewrite the server's firewall.
    """
    req.cloud.policy.enforce(req.context, f"os_compute_api:os-security-groups:{'add' if adding else 'remove'}",
                             {"project_id": instance.project_id})
    ref = _group_ref(body)
    network = network_service(req.cloud)
    with req.cloud.db.session() as session:
        try:
            group = network.find_security_group(session, req.context, ref)
        except NotFound as exc:
            raise NotFound(f"Security group {ref} is not found for project {req.context.project_id}") from exc
        except Conflict as exc:
            raise Conflict(exc.message) from exc
        fresh = session.get(Instance, instance.uuid)
        ports = server_ports(session, fresh) if fresh is not None else []
        if not ports:
            raise NotFound(f"instance_id {instance.uuid} could not be found as device id on any ports")
        if adding:
            for port in ports:
                if not port.port_security_enabled or not network.has_addresses(session, port):
                    raise BadRequest("Network requires port_security_enabled and subnet associated in order to "
                                     "apply security groups.")
            changes = {p.id: [*p.security_groups, group.id] for p in ports if group.id not in p.security_groups}
        else:
            changes = {p.id: [g for g in p.security_groups if g != group.id] for p in ports
                       if group.id in p.security_groups}
            if not changes:
                raise NotFound(f"Security group {ref} not associated with the instance {instance.uuid}")
        for port_id, groups in changes.items():
            network.update_port(session, req.context, port_id, {"security_groups": groups})


def add_security_group(req: ApiRequest, instance: Instance, body: Any) -> None:
    _change_security_group(req, instance, body, adding=True)


def remove_security_group(req: ApiRequest, instance: Instance, body: Any) -> None:
    _change_security_group(req, instance, body, adding=False)


NOT_YET = {
    "shelve": "shelve", "shelveOffload": "shelve", "unshelve": "shelve", "migrate": "cold migration",
    "os-migrateLive": "live migration", "evacuate": "evacuation", "rescue": "rescue", "unrescue": "rescue",
    "changePassword": "password injection", "createBackup": "backups", "trigger_crash_dump": "crash dumps",
    "addFloatingIp": "floating IPs (networking)", "removeFloatingIp": "floating IPs (networking)",
    "os-getVNCConsole": "graphical consoles", "os-getSerialConsole": "interactive consoles",
    "os-getSPICEConsole": "graphical consoles", "os-resetNetwork": "network reset", "injectNetworkInfo": "network injection",
}

ACTIONS: dict[str, Action] = {
    "os-start": _power("start", "os_compute_api:servers:start", (states.STOPPED,), "running", "powering-on"),
    "os-stop": _power("stop", "os_compute_api:servers:stop", (states.ACTIVE, states.ERROR, states.RESIZED),
                      "stopped", "powering-off"),
    "pause": _power("pause", "os_compute_api:os-pause-server:pause", (states.ACTIVE,), "paused", "pausing"),
    "unpause": _power("unpause", "os_compute_api:os-pause-server:unpause", (states.PAUSED,), "running", "unpausing"),
    "suspend": _power("suspend", "os_compute_api:os-suspend-server:suspend", (states.ACTIVE, states.PAUSED),
                      "suspended", "suspending"),
    "resume": _power("resume", "os_compute_api:os-suspend-server:resume", (states.SUSPENDED,), "running", "resuming"),
    "reboot": reboot,
    "rebuild": rebuild,
    "resize": resize,
    "confirmResize": confirm_resize,
    "revertResize": revert_resize,
    "createImage": create_image,
    "os-getConsoleOutput": console_output,
    "lock": lock,
    "unlock": unlock,
    "os-resetState": reset_state,
    "forceDelete": force_delete,
    "restore": restore,
    "addSecurityGroup": add_security_group,
    "removeSecurityGroup": remove_security_group,
}


@endpoint(json_body=True, status=202, summary="Act on a server")
def server_action(req: ApiRequest) -> Any:
    body = req.body
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Malformed request body: give exactly one action, e.g. {\"os-stop\": null}.")
    (name, argument), = body.items()
    with req.cloud.db.read() as session:
        instance = load_instance(req, session, req.path["server_id"])
    if name in NOT_YET:
        raise ApiError(f"gureum does not support {NOT_YET[name]} yet (server action {name!r}).", status=501)
    handler = ACTIONS.get(name)
    if handler is None:
        raise NotFound(f"There is no such action: {name}")
    result = handler(req, instance, argument)
    return (202, None) if result is None else result


def routes() -> list[BaseRoute]:
    return [Route("/v2.1/servers/{server_id}/action", server_action, methods=["POST"])]
