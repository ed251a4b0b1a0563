"""/v2.1/servers: create, list, show, update, delete."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from starlette.routing import BaseRoute, Route

from gureum.compute.api import server_views as views
from gureum.compute.api.common import microversion
from gureum.compute.models import Instance
from gureum.compute.boot import BlockDevice, ServerRequest
from gureum.compute.validation import access_ip, image_id_from_ref, user_data
from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import BadRequest, NotFound
from gureum.image.service import is_uuid

NAME = {"type": "string", "minLength": 1, "maxLength": 255}
METADATA = {
    "type": "object",
    "patternProperties": {"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string", "maxLength": 255}},
    "additionalProperties": False,
}
NETWORK = {
    "type": "object",
    "properties": {
        "uuid": {"type": "string"},
        "port": {"type": ["string", "null"]},
        "fixed_ip": {"type": "string"},
        "tag": {"type": "string", "maxLength": 60},
    },
    "additionalProperties": False,
}
CREATE_SCHEMA = {
    "type": "object",
    "properties": {
        "server": {
            "type": "object",
            "properties": {
                "name": NAME,
                "imageRef": {"type": "string"},
                "flavorRef": {"type": ["string", "integer"], "minLength": 1},
                "adminPass": {"type": "string"},
                "metadata": METADATA,
                "networks": {"oneOf": [{"type": "array", "items": NETWORK}, {"type": "string", "enum": ["auto", "none"]}]},
                "key_name": {"type": ["string", "null"], "minLength": 1, "maxLength": 255},
                "user_data": {"type": ["string", "null"], "maxLength": 65535},
                "availability_zone": {"type": "string", "minLength": 1, "maxLength": 255},
                "min_count": {"type": ["integer", "string"], "pattern": "^[0-9]*$"},
                "max_count": {"type": ["integer", "string"], "pattern": "^[0-9]*$"},
                "return_reservation_id": {"type": ["boolean", "string"]},
                "security_groups": {"type": "array", "items": {"type": "object", "properties": {"name": NAME},
                                                                "additionalProperties": False}},
                "config_drive": {"type": ["boolean", "string", "null"]},
                "accessIPv4": {"type": "string"},
                "accessIPv6": {"type": "string"},
                "description": {"type": ["string", "null"], "maxLength": 255},
                "tags": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 60,
                                                    "pattern": "^[^,/]*$"}, "maxItems": 50},
                "block_device_mapping_v2": {"type": "array"},
                "block_device_mapping": {"type": "array"},
                "personality": {"type": "array"},
                "OS-DCF:diskConfig": {"type": "string", "enum": ["AUTO", "MANUAL"]},
                "trusted_image_certificates": {"type": ["array", "null"]},
                "host": {"type": "string"},
                "hypervisor_hostname": {"type": "string"},
            },
            "required": ["name", "flavorRef"],
            "additionalProperties": False,
        },
        "os:scheduler_hints": {"type": "object"},
        "OS-SCH-HNT:scheduler_hints": {"type": "object"},
    },
    "required": ["server"],
    "additionalProperties": False,
}
UPDATE_SCHEMA = {
    "type": "object",
    "properties": {
        "server": {
            "type": "object",
            "properties": {"name": NAME, "description": {"type": ["string", "null"], "maxLength": 255},
                           "accessIPv4": {"type": "string"}, "accessIPv6": {"type": "string"},
                           "OS-DCF:diskConfig": {"type": "string"}, "hostname": {"type": "string"}},
            "additionalProperties": False,
        }
    },
    "required": ["server"],
    "additionalProperties": False,
}


def target(instance: Instance) -> dict[str, Any]:
    return {"project_id": instance.project_id, "user_id": instance.user_id}


def load_instance(req: ApiRequest, session: Any, server_id: str) -> Instance:
    """The server if it exists and the caller may see it; else Nova's 404."""
    instance = session.get(Instance, server_id) if server_id else None
    if instance is None or instance.deleted:
        raise NotFound(f"Instance {server_id} could not be found.")
    ctx = req.context
    if instance.project_id != ctx.project_id and not ctx.is_admin:
        raise NotFound(f"Instance {server_id} could not be found.")
    return instance


def _count(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"Invalid input for field/attribute {name}. Value: {value}. must be an integer") from exc
    if number < 1:
        raise BadRequest(f"Invalid input for field/attribute {name}. Value: {value}. must be >= 1")
    return number


_TRUE_WORDS = ("1", "true", "t", "yes", "y", "on")
_FALSE_WORDS = ("0", "false", "f", "no", "n", "off", "")


def _bool_option(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE_WORDS


def _config_drive(server: dict[str, Any]) -> bool | None:
    """True or False as asked; None when not named (the cloud's default_config_drive applies).

    The openstack CLI leaves the key out for `--config-drive false` (Nova once refused
    false); the SDK and raw requests send JSON false, which turns the drive off.
    """
    if "config_drive" not in server or server["config_drive"] is None:
        return None
    value = server["config_drive"]
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _TRUE_WORDS or word in _FALSE_WORDS:
        return word in _TRUE_WORDS
    raise BadRequest(f"Invalid config_drive provided: {value!r} is neither true nor false.")






def _flavor_id(ref: Any) -> str:
    text = str(ref)
    return text.rstrip("/").rsplit("/", 1)[-1]


def _networks(req: ApiRequest, value: Any) -> Any:
    mv = microversion(req)
    if value is None:
        if mv.at_least(37):
            raise BadRequest("Invalid input for field/attribute server. Value: ... 'networks' is a required property")
        return "auto"
    if isinstance(value, str) and not mv.at_least(37):
        raise BadRequest(f"Invalid input for field/attribute networks. Value: {value}. {value!r} is not of type 'array'")
    if isinstance(value, list):
        for net in value:
            if not net.get("uuid") and not net.get("port"):
                raise BadRequest("Invalid input for field/attribute networks: each needs 'uuid' or 'port'.")
            for key in ("uuid", "port"):
                if net.get(key) and not is_uuid(str(net[key])):
                    raise BadRequest(f"Bad networks format: network uuid is not in proper format ({net[key]})")
    return value


def _check_microversion_fields(req: ApiRequest, server: dict[str, Any]) -> None:
    mv = microversion(req)
    for field, since in (("description", 19), ("tags", 52)):
        if field in server and not mv.at_least(since):
            raise BadRequest(f"Invalid input for field/attribute server. Additional properties are not allowed ('{field}' was unexpected)")
    if "personality" in server and mv.at_least(57):
        raise BadRequest("Invalid input for field/attribute server. Additional properties are not allowed ('personality' was unexpected)")


def _server_request(req: ApiRequest, body: dict[str, Any]) -> ServerRequest:
    """The create body in the service's terms: each field's form checked, nothing looked up."""
    server = body["server"]
    _check_microversion_fields(req, server)
    image_ref, block_devices = _block_devices(server)
    networks = _networks(req, server.get("networks"))
    min_count = _count(server.get("min_count", 1), "min_count")
    max_count = _count(server.get("max_count", min_count), "max_count")
    if min_count > max_count:
        raise BadRequest("min_count must be <= max_count")
    hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
    zone = server.get("availability_zone")
    if zone and ":" in zone:
        zone = zone.split(":", 1)[0] or None
    return ServerRequest(
        name=server["name"],
        image_id=image_id_from_ref(image_ref) if image_ref else "",
        flavor_ref=_flavor_id(server["flavorRef"]),
        key_name=server.get("key_name") or None,
        user_data=user_data(server.get("user_data")),
        metadata=dict(server.get("metadata") or {}),
        availability_zone=zone,
        min_count=min_count,
        max_count=max_count,
        config_drive=_config_drive(server),
        security_groups=[g["name"] for g in server.get("security_groups", [])] or ["default"],
        networks=networks,
        group_id=str(hints["group"]) if hints.get("group") else None,
        description=server.get("description"),
        tags=list(server.get("tags") or []),
        access_ip_v4=access_ip(server.get("accessIPv4"), 4),
        access_ip_v6=access_ip(server.get("accessIPv6"), 6),
        block_devices=block_devices,
    )


@endpoint(schema=CREATE_SCHEMA, status=202, summary="Create a server")
def create_server(req: ApiRequest) -> Any:
    server = req.body["server"]
    request = _server_request(req, req.body)
    instances, reservation_id = req.cloud.compute.create_servers(req.context, request)
    if _bool_option(server.get("return_reservation_id", False)):
        return 202, {"reservation_id": reservation_id}
    first = instances[0]
    response: dict[str, Any] = {
        "id": first.uuid,
        "links": views.links(req, "servers", first.uuid),
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": [{"name": n} for n in request.security_groups],
        "adminPass": server.get("adminPass") or uuid.uuid4().hex[:12],
    }
    return 202, {"server": response}, {"Location": response["links"][0]["href"]}


BDM_KEYS = frozenset({"source_type", "destination_type", "uuid", "boot_index", "volume_size",
                      "delete_on_termination", "device_name", "tag", "guest_format", "disk_bus", "device_type",
                      "volume_type", "no_device", "virtual_name", "volume_id", "snapshot_id", "image_id",
                      "connection_info"})
BDM_INVALID = "Block Device Mapping is Invalid: "


def _bdm_int(value: Any, field: str, minimum: int | None = None) -> int | None:
    """An integer, or digits in a string as Nova's schema allows (the CLI sends volume_size as one)."""
    if value is None or value == "":
        return None
    try:
        number = int(value) if not isinstance(value, bool) and isinstance(value, (int, str)) else None
    except ValueError:
        number = None
    if number is None or (minimum is not None and number < minimum):
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. "
                         f"It must be an integer{f' of at least {minimum}' if minimum is not None else ''}.")
    return number


def _block_devices(server: dict[str, Any]) -> tuple[str, list[BlockDevice]]:
    """The image to boot (Clients describe an image boot as a block device too: image to the
    local disk) and the volumes to attach or make, boot_index 0 among them for boot from volume."""
    if server.get("block_device_mapping"):
        raise BadRequest("The legacy block_device_mapping is not supported; use block_device_mapping_v2.")
    image_ref = str(server.get("imageRef") or "")
    local_image = ""
    volumes: list[BlockDevice] = []
    for bdm in server.get("block_device_mapping_v2") or []:
        if not isinstance(bdm, dict):
            raise BadRequest("Invalid input for field/attribute block_device_mapping_v2: expected objects.")
        unknown = sorted(set(bdm) - BDM_KEYS)
        if unknown:
            raise BadRequest(f"Invalid input for field/attribute block_device_mapping_v2. Additional properties "
                             f"are not allowed ({', '.join(map(repr, unknown))} were unexpected)")
        source, destination = bdm.get("source_type"), bdm.get("destination_type") or "local"
        if source not in ("volume", "image", "snapshot", "blank") or destination not in ("local", "volume"):
            raise BadRequest(f"{BDM_INVALID}source_type must be volume, image, snapshot or blank and "
                             f"destination_type local or volume (got {source!r} to {destination!r}).")
        boot_index = _bdm_int(bdm.get("boot_index"), "boot_index")
        boot_index = None if boot_index is not None and boot_index < 0 else boot_index
        uuid_ = bdm.get("uuid") or bdm.get(f"{source}_id")
        if source != "blank" and (not isinstance(uuid_, str) or not is_uuid(uuid_)):
            raise BadRequest(f"{BDM_INVALID}a {source} block device needs the {source}'s uuid (got {uuid_!r}).")
        if destination == "local":
            if source == "image":
                local_image = local_image or str(uuid_)
                continue
            if source == "blank":
                raise BadRequest("Extra ephemeral or swap disks are not supported yet; use a flavor with a "
                                 "larger disk.")
            raise BadRequest(f"{BDM_INVALID}a {source} can only go to destination_type volume.")
        size = _bdm_int(bdm.get("volume_size"), "volume_size", minimum=1)
        if source in ("image", "blank") and size is None:
            raise BadRequest(f"{BDM_INVALID}{'Images' if source == 'image' else 'Blank volumes'} with "
                             "destination_type 'volume' need to have a non-zero size specified")
        dot = bdm.get("delete_on_termination", False)
        if not isinstance(dot, bool):
            if str(dot).strip().lower() not in _TRUE_WORDS + _FALSE_WORDS:
                raise BadRequest(f"Invalid input for field/attribute delete_on_termination. Value: {dot}. "
                                 "It must be a boolean.")
            dot = _bool_option(dot)
        tag, device = bdm.get("tag"), bdm.get("device_name")
        for field, value in (("tag", tag), ("device_name", device)):
            if value is not None and (not isinstance(value, str) or not value or len(value) > 255):
                raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value!r}.")
        volumes.append(BlockDevice(source=str(source), uuid=str(uuid_) if uuid_ else None, boot_index=boot_index,
                                   volume_size=size, delete_on_termination=dot, tag=tag,
                                   device_name=device))
    boots = [v for v in volumes if v.boot_index == 0]
    if len(boots) > 1 or (boots and local_image):
        raise BadRequest(f"{BDM_INVALID}Boot sequence for the instance and image/block device mapping "
                         "combination is not valid: more than one device has boot_index 0.")
    if boots:
        return "", volumes  # booted from the volume: the server has no image of its own
    image_ref = image_ref or local_image
    if not image_ref:
        raise BadRequest(f"{BDM_INVALID}Boot sequence for the instance and image/block device mapping "
                         "combination is not valid. Give imageRef, or a volume block device with boot_index 0.")
    return image_ref, volumes


# -- list -------------------------------------------------------------------------

def _list(req: ApiRequest, detailed: bool) -> dict[str, Any]:
    params = {key: req.query[key] for key in req.query.keys()}
    shown, next_marker = req.cloud.compute.list_servers(req.context, params, detailed=detailed,
                                                        locked_filter=microversion(req).at_least(73))
    if detailed:
        items = [views.detail(req, s.instance, s.host, addresses=s.addresses, security_groups=s.security_groups,
                              volumes=s.volumes) for s in shown]
    else:
        items = [views.summary(req, s.instance) for s in shown]
    body: dict[str, Any] = {"servers": items}
    if next_marker:
        base = f"{req.base_url}/v2.1/servers{'/detail' if detailed else ''}"
        query = [(k, v) for k, v in req.query.multi_items() if k != "marker"] + [("marker", next_marker)]
        body["servers_links"] = [{"rel": "next", "href": f"{base}?{urlencode(query)}"}]
    return body


@endpoint(summary="List servers")
def list_servers(req: ApiRequest) -> dict[str, Any]:
    return _list(req, detailed=False)


@endpoint(summary="List servers with details")
def list_servers_detail(req: ApiRequest) -> dict[str, Any]:
    return _list(req, detailed=True)


@endpoint(summary="Show a server")
def show_server(req: ApiRequest) -> dict[str, Any]:
    shown = req.cloud.compute.show_server(req.context, req.path["server_id"])
    return {"server": views.detail(req, shown.instance, shown.host, shown.group_ids, addresses=shown.addresses,
                                   security_groups=shown.security_groups, volumes=shown.volumes)}


@endpoint(schema=UPDATE_SCHEMA, summary="Update a server")
def update_server(req: ApiRequest) -> dict[str, Any]:
    body = req.body["server"]
    if "description" in body and not microversion(req).at_least(19):
        raise BadRequest("Invalid input for field/attribute server. Additional properties are not allowed ('description' was unexpected)")
    changes = {key: body[key] for key in ("name", "description") if key in body}
    for version in (4, 6):
        if f"accessIPv{version}" in body:
            changes[f"access_ip_v{version}"] = access_ip(body[f"accessIPv{version}"], version)
    shown = req.cloud.compute.update_server(req.context, req.path["server_id"], changes)
    return {"server": views.updated(req, shown.instance, shown.host, shown.group_ids, addresses=shown.addresses,
                                    security_groups=shown.security_groups, volumes=shown.volumes)}


@endpoint(status=204, summary="Delete a server")
def delete_server(req: ApiRequest) -> None:
    req.cloud.compute.delete_server(req.context, req.path["server_id"])


def routes() -> list[BaseRoute]:
    return [
        Route("/v2.1/servers", list_servers, methods=["GET"]),
        Route("/v2.1/servers", create_server, methods=["POST"]),
        Route("/v2.1/servers/detail", list_servers_detail, methods=["GET"]),
        Route("/v2.1/servers/{server_id}", show_server, methods=["GET"]),
        Route("/v2.1/servers/{server_id}", update_server, methods=["PUT"]),
        Route("/v2.1/servers/{server_id}", delete_server, methods=["DELETE"]),
    ]

