"""Per-server sub-resources: metadata, tags, ips, instance actions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.routing import BaseRoute, Route

from gureum.compute.addresses import addresses_of, server_ports
from gureum.compute.api.common import microversion
from gureum.compute.api.server_views import iso
from gureum.compute.api.servers import load_instance, target
from gureum.compute.models import Instance, InstanceAction
from gureum.compute.validation import meta_items
from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import BadRequest, Forbidden, NotFound
from gureum.network.models import SecurityGroup
from gureum.network.service import network_service

MAX_METADATA_ITEMS = 128




def _save_metadata(req: ApiRequest, action: str, update: Any) -> dict[str, str]:
    with req.cloud.db.session() as session:
        instance = load_instance(req, session, req.path["server_id"])
        req.cloud.policy.enforce(req.context, f"os_compute_api:server-metadata:{action}", target(instance))
        metadata = update(dict(instance.metadata_items or {}))
        if len(metadata) > MAX_METADATA_ITEMS:
            raise Forbidden(f"Quota exceeded for metadata_items: at most {MAX_METADATA_ITEMS} items.")
        instance.metadata_items = metadata
        return metadata


@endpoint(summary="List server metadata")
def list_metadata(req: ApiRequest) -> dict[str, Any]:
    with req.cloud.db.read() as session:
        instance = load_instance(req, session, req.path["server_id"])
        req.cloud.policy.enforce(req.context, "os_compute_api:server-metadata:index", target(instance))
        return {"metadata": dict(instance.metadata_items or {})}


@endpoint(json_body=True, summary="Add or update server metadata")
def update_metadata(req: ApiRequest) -> dict[str, Any]:
    items = meta_items((req.body or {}).get("metadata") if isinstance(req.body, dict) else None)
    return {"metadata": _save_metadata(req, "create", lambda m: {**m, **items})}


@endpoint(json_body=True, summary="Replace server metadata")
def replace_metadata(req: ApiRequest) -> dict[str, Any]:
    items = meta_items((req.body or {}).get("metadata") if isinstance(req.body, dict) else None)
    return {"metadata": _save_metadata(req, "update_all", lambda _m: items)}


@endpoint(summary="Show a server metadata item")
def show_metadata_item(req: ApiRequest) -> dict[str, Any]:
    with req.cloud.db.read() as session:
        instance = load_instance(req, session, req.path["server_id"])
        req.cloud.policy.enforce(req.context, "os_compute_api:server-metadata:show", target(instance))
        key = req.path["key"]
        if key not in (instance.metadata_items or {}):
            raise NotFound("Metadata item was not found")
        return {"meta": {key: instance.metadata_items[key]}}


@endpoint(json_body=True, summary="Set a server metadata item")
def set_metadata_item(req: ApiRequest) -> dict[str, Any]:
    meta = meta_items((req.body or {}).get("meta") if isinstance(req.body, dict) else None, "meta")
    key = req.path["key"]
    if list(meta) != [key]:
        raise BadRequest("Request body and URI mismatch" if key not in meta or len(meta) == 1 else
                         "Request body contains too many items")
    _save_metadata(req, "update", lambda m: {**m, **meta})
    return {"meta": meta}


@endpoint(status=204, summary="Delete a server metadata item")
def delete_metadata_item(req: ApiRequest) -> None:
    key = req.path["key"]

    def drop(m: dict[str, str]) -> dict[str, str]:
        if key not in m:
            raise NotFound("Metadata item was not found")
        return {k: v for k, v in m.items() if k != key}

    _save_metadata(req, "delete", drop)


# -- tags (2.26) ----------------------------------------------------------------------


def _check_tag(tag: str) -> None:
    if not 1 <= len(tag) <= 60 or "," in tag or "/" in tag:
        raise BadRequest(f"Invalid tag {tag!r}: 1 to 60 characters, no ',' or '/'.")


def _save_tags(req: ApiRequest, action: str, update: Any) -> list[str]:
    with req.cloud.db.session() as session:
        instance = load_instance(req, session, req.path["server_id"])
        req.cloud.policy.enforce(req.context, f"os_compute_api:os-server-tags:{action}", target(instance))
        tags = update(list(instance.tags or []))
        if len(tags) > 50:
            raise BadRequest("The number of tags exceeded the per-server limit 50")
        instance.tags = tags
        return tags


@endpoint(summary="List server tags")
def list_tags(req: ApiRequest) -> dict[str, Any]:
    with req.cloud.db.read() as session:
        instance = load_instance(req, session, req.path["server_id"])
        req.cloud.policy.enforce(req.context, "os_compute_api:os-server-tags:index", target(instance))
        return {"tags": list(instance.tags or [])}


@endpoint(json_body=True, summary="Replace server tags")
def replace_tags(req: ApiRequest) -> dict[str, Any]:
    tags = (req.body or {}).get("tags") if isinstance(req.body, dict) else None
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise BadRequest("Invalid input for field/attribute tags: expected a list of strings.")
    for tag in tags:
        _check_tag(tag)
    return {"tags": _save_tags(req, "update_all", lambda _t: list(dict.fromkeys(tags)))}


@endpoint(status=204, summary="Delete all server tags")
def delete_tags(req: ApiRequest) -> None:
    _save_tags(req, "delete_all", lambda _t: [])


@endpoint(status=204, summary="Check a server tag")
def check_tag(req: ApiRequest) -> None:
    with req.cloud.db.read() as session:
        instance = load_instance(req, session, req.path["server_id"])
        req.cloud.policy.enforce(req.context, "os_compute_api:os-server-tags:show", target(instance))
        if req.path["tag"] not in (instance.tags or []):
            raise NotFound(f"Tag '{req.path['tag']}' could not be found.")


@endpoint(summary="Add a server tag")
def add_tag(req: ApiRequest) -> Any:
    tag = req.path["tag"]
    _check_tag(tag)
    existed: list[bool] = []

    def add(tags: list[str]) -> list[str]:
        existed.append(tag in tags)
        return tags if tag in tags else [*tags, tag]

    _save_tags(req, "update", add)
    location = f"{req.base_url}/v2.1/servers/{req.path['server_id']}/tags/{tag}"
    return (204 if existed[0] else 201), None, {"Location": location}


@endpoint(status=204, summary="Delete a server tag")
def delete_tag(req: ApiRequest) -> None:
    tag = req.path["tag"]

    def drop(tags: list[str]) -> list[str]:
        if tag not in tags:
            raise NotFound(f"Tag '{tag}' could not be found.")
        return [t for t in tags if t != tag]

    _save_tags(req, "delete", drop)


# -- ips and instance actions ---------------------------------------------------------


@endpoint(summary="List a server's addresses")
def list_ips(req: ApiRequest) -> dict[str, Any]:
    with req.cloud.db.read() as session:
        instance = load_instance(req, session, req.path["server_id"])
        req.cloud.policy.enforce(req.context, "os_compute_api:ips:index", target(instance))
        return {"addresses": addresses_of(session, [instance]).get(instance.uuid, {})}


def _action_view(req: ApiRequest, action: InstanceAction) -> dict[str, Any]:
    body = {"action": action.action, "instance_uuid": action.instance_uuid, "request_id": action.request_id,
            "user_id": action.user_id, "project_id": action.project_id, "start_time": iso(action.start_time),
            "message": action.message}
    if microversion(req).at_least(58):
        body["updated_at"] = iso(action.start_time)
    return body


def _instance_any_state(req: ApiRequest, session: Any) -> Instance:
    instance = session.get(Instance, req.path["server_id"])
    if instance is None or (instance.project_id != req.context.project_id and not req.context.is_admin):
        raise NotFound(f"Instance {req.path['server_id']} could not be found.")
    return instance


@endpoint(summary="List a server's actions")
def list_instance_actions(req: ApiRequest) -> dict[str, Any]:
    with req.cloud.db.read() as session:
        instance = _instance_any_state(req, session)
        req.cloud.policy.enforce(req.context, "os_compute_api:os-instance-actions:list", target(instance))
        rows = session.execute(select(InstanceAction).where(InstanceAction.instance_uuid == instance.uuid)
                               .order_by(InstanceAction.id.desc())).scalars()
        return {"instanceActions": [_action_view(req, a) for a in rows]}


@endpoint(summary="Show a server action")
def show_instance_action(req: ApiRequest) -> dict[str, Any]:
    with req.cloud.db.read() as session:
        instance = _instance_any_state(req, session)
        req.cloud.policy.enforce(req.context, "os_compute_api:os-instance-actions:show", target(instance))
        action = session.execute(select(InstanceAction).where(
            InstanceAction.instance_uuid == instance.uuid, InstanceAction.request_id == req.path["request_id"]
        )).scalars().first()
        if action is None:
            raise NotFound(f"Action for request_id {req.path['request_id']} on instance {instance.uuid} not found")
        body = _action_view(req, action)
        body["events"] = []
        return {"instanceAction": body}


# -- os-security-groups of a server ---------------------------------------------------


def _nova_rule(rule: dict[str, Any], groups: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A neutron ingress rule in Nova's old security group shape."""
    from_port, to_port = rule["port_range_min"], rule["port_range_max"]
    protocol = rule["protocol"]
    if protocol and from_port is None and to_port is None:
        # Nova shows "all ports" of a protocol as its full range.
        from_port, to_port = (1, 65535) if protocol.upper() in ("TCP", "UDP") else (-1, -1)
    remote = rule["remote_group_id"]
    group = groups.get(remote) if remote else None
    return {"id": rule["id"], "parent_group_id": rule["security_group_id"], "ip_protocol": protocol,
            "from_port": from_port, "to_port": to_port,
            "group": {"name": group["name"], "tenant_id": group["tenant_id"]} if group else {},
            "ip_range": {} if remote else {"cidr": rule["remote_ip_prefix"] or "0.0.0.0/0"}}


@endpoint(summary="List a server's security groups")
def list_server_security_groups(req: ApiRequest) -> dict[str, Any]:
    network = network_service(req.cloud)
    with req.cloud.db.read() as session:
        instance = load_instance(req, session, req.path["server_id"])
        req.cloud.policy.enforce(req.context, "os_compute_api:os-security-groups:list",
                                 {"project_id": instance.project_id})
        ids = list(dict.fromkeys(sg for port in server_ports(session, instance) for sg in port.security_groups or []))
        found = session.scalars(select(SecurityGroup).where(SecurityGroup.id.in_(ids))) if ids else []
        views = {sg.id: network.sg_view(session, sg) for sg in found}
        # Rules that point at another group name it: that group may not be on the server.
        remote_ids = {r["remote_group_id"] for v in views.values() for r in v["security_group_rules"]
                      if r["remote_group_id"] and r["remote_group_id"] not in views}
        remotes = {sg.id: {"name": sg.name, "tenant_id": sg.project_id} for sg in
                   session.scalars(select(SecurityGroup).where(SecurityGroup.id.in_(remote_ids)))} if remote_ids else {}
    known = {**remotes, **{sg_id: {"name": v["name"], "tenant_id": v["project_id"]} for sg_id, v in views.items()}}
    groups = [{"id": v["id"], "name": v["name"], "description": v["description"], "tenant_id": v["project_id"],
               "rules": [_nova_rule(r, known) for r in v["security_group_rules"] if r["direction"] == "ingress"
                         and (not r["remote_group_id"] or r["remote_group_id"] in known)]}
              for v in views.values()]
    return {"security_groups": sorted(groups, key=lambda g: (g["tenant_id"], g["name"]))}


# -- os-server-password ----------------------------------------------------------------
# Nova keeps a password only when a guest posts one to the metadata service (Windows
# guests); gureum's guests never do, so there is never one to show: "" as in Nova.


@endpoint(summary="Show a server's encrypted password")
def show_password(req: ApiRequest) -> dict[str, Any]:
    with req.cloud.db.read() as session:
        instance = load_instance(req, session, req.path["server_id"])
        req.cloud.policy.enforce(req.context, "os_compute_api:os-server-password:show", target(instance))
    return {"password": ""}


@endpoint(status=204, summary="Clear a server's encrypted password")
def clear_password(req: ApiRequest) -> None:
    with req.cloud.db.read() as session:
        instance = load_instance(req, session, req.path["server_id"])
        req.cloud.policy.enforce(req.context, "os_compute_api:os-server-password:clear", target(instance))


def routes() -> list[BaseRoute]:
    base = "/v2.1/servers/{server_id}"
    return [
        Route(base + "/metadata", list_metadata, methods=["GET"]),
        Route(base + "/metadata", update_metadata, methods=["POST"]),
        Route(base + "/metadata", replace_metadata, methods=["PUT"]),
        Route(base + "/metadata/{key}", show_metadata_item, methods=["GET"]),
        Route(base + "/metadata/{key}", set_metadata_item, methods=["PUT"]),
        Route(base + "/metadata/{key}", delete_metadata_item, methods=["DELETE"]),
        Route(base + "/tags", list_tags, methods=["GET"]),
        Route(base + "/tags", replace_tags, methods=["PUT"]),
        Route(base + "/tags", delete_tags, methods=["DELETE"]),
        Route(base + "/tags/{tag}", check_tag, methods=["GET"]),
        Route(base + "/tags/{tag}", add_tag, methods=["PUT"]),
        Route(base + "/tags/{tag}", delete_tag, methods=["DELETE"]),
        Route(base + "/ips", list_ips, methods=["GET"]),
        Route(base + "/os-server-password", show_password, methods=["GET"]),
        Route(base + "/os-server-password", clear_password, methods=["DELETE"]),
        Route(base + "/os-security-groups", list_server_security_groups, methods=["GET"]),
        Route(base + "/os-instance-actions", list_instance_actions, methods=["GET"]),
        Route(base + "/os-instance-actions/{request_id}", show_instance_action, methods=["GET"]),
    ]
