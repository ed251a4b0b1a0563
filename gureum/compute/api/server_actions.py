"""POST /v2.1/servers/{id}/action: power, reboot, rebuild, resize, snapshot, console, lock.

Each action parses its argument, calls one ComputeService method (which enforces
policy and Nova's lock and state guards in its own transaction) and renders.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.compute.actions import POWER_ACTIONS, RebuildRequest
from gureum.compute.api import server_views as views
from gureum.compute.api.common import microversion
from gureum.compute.validation import access_ip, image_id_from_ref, meta_items, user_data
from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import ApiError, BadRequest, NotFound

Action = Callable[[ApiRequest, str, Any], Any]


def _power(action: str) -> Action:
    def run(req: ApiRequest, server_id: str, _body: Any) -> None:
        req.cloud.compute.power_action(req.context, server_id, action)

    return run


def reboot(req: ApiRequest, server_id: str, body: Any) -> None:
    kind = str((body or {}).get("type", "")).upper() if isinstance(body, dict) else ""
    if kind not in ("SOFT", "HARD"):
        raise BadRequest("Invalid input for field/attribute type. Value: %s. 'type' must be one of SOFT, HARD" % kind)
    req.cloud.compute.reboot_server(req.context, server_id, hard=kind == "HARD")


def _rebuild_request(req: ApiRequest, body: Any) -> RebuildRequest:
    if not isinstance(body, dict) or not body.get("imageRef"):
        raise BadRequest("Invalid input for field/attribute rebuild. Value: ... 'imageRef' is a required property")
    mv = microversion(req)
    fields: dict[str, Any] = {}
    if "name" in body:
        fields["name"] = str(body["name"])
    if "metadata" in body:
        if not isinstance(body["metadata"], dict):
            raise BadRequest("Invalid input for field/attribute metadata: expected an object.")
        fields["metadata"] = {str(k): str(v) for k, v in body["metadata"].items()}
    if "description" in body and mv.at_least(19):
        fields["description"] = body["description"]
    if "key_name" in body and mv.at_least(54):
        fields["key_name"] = body["key_name"]
    if "user_data" in body and mv.at_least(57):
        fields["user_data"] = user_data(body["user_data"])
    if "accessIPv4" in body:
        fields["access_ip_v4"] = access_ip(body["accessIPv4"], 4)
    if "accessIPv6" in body:
        fields["access_ip_v6"] = access_ip(body["accessIPv6"], 6)
    return RebuildRequest(image_id=image_id_from_ref(str(body["imageRef"])), **fields)


def rebuild(req: ApiRequest, server_id: str, body: Any) -> Any:
    shown = req.cloud.compute.rebuild_server(req.context, server_id, _rebuild_request(req, body))
    mv = microversion(req)
    instance = shown.instance
    server = views.updated(req, instance, shown.host, shown.group_ids, addresses=shown.addresses,
                           security_groups=shown.security_groups, volumes=shown.volumes)
    # Below 2.75 rebuild shows key_name (2.54) and user_data (2.57) beyond PUT's shape;
    # from 2.75 it shows what GET does, with user_data in place of OS-EXT-SRV-ATTR:user_data.
    server.pop("OS-EXT-SRV-ATTR:user_data", None)
    if mv.at_least(54):
        server["key_name"] = instance.key_name
    if mv.at_least(57):
        server["user_data"] = instance.user_data
    server["adminPass"] = body.get("adminPass") or secrets.token_urlsafe(9)
    return 202, {"server": server}


def resize(req: ApiRequest, server_id: str, body: Any) -> None:
    if not isinstance(body, dict) or "flavorRef" not in body:
        raise BadRequest("Invalid input for field/attribute resize. Value: ... 'flavorRef' is a required property")
    flavor_ref = str(body["flavorRef"] or "").rstrip("/").rsplit("/", 1)[-1]
    req.cloud.compute.resize_server(req.context, server_id, flavor_ref)


def confirm_resize(req: ApiRequest, server_id: str, _body: Any) -> Any:
    req.cloud.compute.confirm_resize(req.context, server_id)
    return 204, None  # Nova answers confirmResize with 204, unlike the other actions


def revert_resize(req: ApiRequest, server_id: str, _body: Any) -> None:
    req.cloud.compute.revert_resize(req.context, server_id)


def create_image(req: ApiRequest, server_id: str, body: Any) -> Any:
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"].strip():
        raise BadRequest("Invalid input for field/attribute createImage. Value: ... 'name' is a required property")
    metadata = {} if body.get("metadata") is None else meta_items(body["metadata"])
    image = req.cloud.compute.create_image(req.context, server_id, body["name"], metadata)
    if microversion(req).at_least(45):
        return 202, {"image_id": image["id"]}
    return 202, None, {"Location": f"{req.cloud.settings.base_url}/image/v2/images/{image['id']}"}


def console_output(req: ApiRequest, server_id: str, body: Any) -> Any:
    length = (body or {}).get("length") if isinstance(body, dict) else None
    lines: int | None = None
    if length not in (None, "", -1, "-1"):
        try:
            lines = int(length)
        except (TypeError, ValueError) as exc:
            raise BadRequest(f"Invalid input for field/attribute length. Value: {length}.") from exc
        if lines < -1:
            raise BadRequest(f"Invalid input for field/attribute length. Value: {length}.")
    return 200, {"output": req.cloud.compute.console_output(req.context, server_id, lines)}


def lock(req: ApiRequest, server_id: str, body: Any) -> None:
    reason = (body or {}).get("locked_reason") if isinstance(body, dict) and microversion(req).at_least(73) else None
    req.cloud.compute.lock_server(req.context, server_id, reason)


def unlock(req: ApiRequest, server_id: str, _body: Any) -> None:
    req.cloud.compute.unlock_server(req.context, server_id)


def reset_state(req: ApiRequest, server_id: str, body: Any) -> None:
    state = (body or {}).get("state") if isinstance(body, dict) else None
    req.cloud.compute.reset_state(req.context, server_id, str(state))


def restore(req: ApiRequest, server_id: str, _body: Any) -> None:
    req.cloud.compute.restore_server(req.context, server_id)


def force_delete(req: ApiRequest, server_id: str, _body: Any) -> None:
    req.cloud.compute.delete_server(req.context, server_id, force=True)


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


def add_security_group(req: ApiRequest, server_id: str, body: Any) -> None:
    req.cloud.compute.add_security_group(req.context, server_id, _group_ref(body))


def remove_security_group(req: ApiRequest, server_id: str, body: Any) -> None:
    req.cloud.compute.remove_security_group(req.context, server_id, _group_ref(body))


NOT_YET = {
    "shelve": "shelve", "shelveOffload": "shelve", "unshelve": "shelve", "migrate": "cold migration",
    "os-migrateLive": "live migration", "evacuate": "evacuation", "rescue": "rescue", "unrescue": "rescue",
    "changePassword": "password injection", "createBackup": "backups", "trigger_crash_dump": "crash dumps",
    "addFloatingIp": "floating IPs (networking)", "removeFloatingIp": "floating IPs (networking)",
    "os-getVNCConsole": "graphical consoles", "os-getSerialConsole": "interactive consoles",
    "os-getSPICEConsole": "graphical consoles", "os-resetNetwork": "network reset", "injectNetworkInfo": "network injection",
}

ACTIONS: dict[str, Action] = {
    **{("os-" + name if name in ("start", "stop") else name): _power(name) for name in POWER_ACTIONS},
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
    server_id = req.path["server_id"]
    handler = ACTIONS.get(name)
    if handler is None:
        req.cloud.compute.get_server(req.context, server_id)  # a missing server is 404 before all else
        if name in NOT_YET:
            raise ApiError(f"gureum does not support {NOT_YET[name]} yet (server action {name!r}).", status=501)
        raise NotFound(f"There is no such action: {name}")
    result = handler(req, server_id, argument)
    return (202, None) if result is None else result


def routes() -> list[BaseRoute]:
    return [Route("/v2.1/servers/{server_id}/action", server_action, methods=["POST"])]
