"""/v2.1/os-quota-sets and /v2.1/os-quota-class-sets: compute limits per project and class."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gureum.compute import quotas as service
from gureum.compute.api.common import microversion
from gureum.compute.api.common import STRING, check_body, check_query
from gureum.compute.api.flavors import enforce, verify_project_id
from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import BadRequest

_QUOTA = {"type": ["integer", "string"], "pattern": "^-?[0-9]+$", "minimum": -1, "maximum": service.MAX_LIMIT}
_BOOLEAN = {
    "type": ["boolean", "string"],
    "enum": [True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "y", "t",
             False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no", "n", "f"],
}
_TRUE = {"true", "1", "on", "yes", "y", "t"}


def hidden_quotas(req: ApiRequest, network_since: int = 36) -> tuple[str, ...]:
    """What a microversion no longer shows: nova-network's at 2.36 (2.50 for classes), files at 2.57."""
    version = microversion(req)
    if version.at_least(57):
        return service.NETWORK_LEFTOVERS + service.INJECTED_FILES
    if version.at_least(network_since):
        return service.NETWORK_LEFTOVERS
    return ()


def _shown(req: ApiRequest, hidden: tuple[str, ...] | None = None) -> list[str]:
    hidden = hidden_quotas(req) if hidden is None else hidden
    return [r for r in service.RESOURCES if r not in hidden]


def _update_schema(req: ApiRequest, key: str, hidden: tuple[str, ...], with_force: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {r: _QUOTA for r in service.RESOURCES if r not in hidden}
    if with_force:
        properties["force"] = _BOOLEAN
    return {
        "type": "object",
        "properties": {key: {"type": "object", "properties": properties, "additionalProperties": False}},
        "required": [key],
        "additionalProperties": False,
    }


def _user_param(req: ApiRequest) -> str | None:
    params = check_query(req, {"user_id": STRING})
    return params.get("user_id") or None


@endpoint(summary="Show a project's quotas")
def show_quota_set(req: ApiRequest) -> dict[str, Any]:
    user_id = _user_param(req)
    project_id = req.path["project_id"]
    enforce(req, "os_compute_api:os-quota-sets:show", {"project_id": project_id})
    with req.cloud.db.session() as session:
        verify_project_id(session, project_id)
        limits = service.limits_for(session, project_id, user_id)
    body: dict[str, Any] = {"id": project_id}
    body.update({r: limits[r] for r in _shown(req)})
    return {"quota_set": body}


@endpoint(summary="Show a project's quotas with usage")
def show_quota_set_detail(req: ApiRequest) -> dict[str, Any]:
    user_id = _user_param(req)
    project_id = req.path["project_id"]
    enforce(req, "os_compute_api:os-quota-sets:detail", {"project_id": project_id})
    with req.cloud.db.session() as session:
        verify_project_id(session, project_id)
        limits = service.limits_for(session, project_id, user_id)
        used = service.usage_for(session, project_id, user_id)
    body: dict[str, Any] = {"id": project_id}
    for resource in _shown(req):
        in_use = 0 if resource in service.PER_USER else used[resource]
        body[resource] = {"in_use": in_use, "limit": limits[resource], "reserved": 0}
    return {"quota_set": body}


@endpoint(summary="Show the default quotas")
def show_quota_defaults(req: ApiRequest) -> dict[str, Any]:
    project_id = req.path["project_id"]
    enforce(req, "os_compute_api:os-quota-sets:defaults", {"project_id": project_id})
    with req.cloud.db.session() as session:
        verify_project_id(session, project_id)
        defaults = service.class_limits(session)
    body: dict[str, Any] = {"id": project_id}
    body.update({r: defaults[r] for r in _shown(req)})
    return {"quota_set": body}


@endpoint(json_body=True, summary="Update a project's quotas")
def update_quota_set(req: ApiRequest) -> dict[str, Any]:
    hidden = hidden_quotas(req)
    check_body(req, _update_schema(req, "quota_set", hidden, with_force=True))
    user_id = _user_param(req)
    project_id = req.path["project_id"]
    enforce(req, "os_compute_api:os-quota-sets:update", {"project_id": project_id})
    values = dict(req.body["quota_set"])
    force = str(values.pop("force", "False")).strip().lower() in _TRUE
    with req.cloud.db.session() as session:
        verify_project_id(session, project_id)
        used = service.usage_for(session, project_id, user_id)
        valid: dict[str, int] = {}
        for resource, raw in values.items():
            if raw is None or raw == "":
                continue
            value = int(raw)
            minimum = 0 if resource in service.PER_USER else used[resource]
            if not force and value != -1 and value < minimum:
                raise BadRequest(
                    f"Quota limit {value} for {resource} must be greater than or equal to already used "
                    f"and reserved {minimum}."
                )
            valid[resource] = value
        service.set_limits(session, project_id, valid, user_id or "")
        limits = service.limits_for(session, project_id, user_id)
    # nova leaves the id out of the update's answer.
    return {"quota_set": {r: limits[r] for r in _shown(req, hidden)}}


@endpoint(status=202, summary="Revert a project's quotas to the defaults")
def delete_quota_set(req: ApiRequest) -> Response:
    user_id = _user_param(req)
    project_id = req.path["project_id"]
    enforce(req, "os_compute_api:os-quota-sets:delete", {"project_id": project_id})
    with req.cloud.db.session() as session:
        service.delete_limits(session, project_id, user_id)
    return Response(status_code=202)


def _class_view(req: ApiRequest, values: dict[str, int]) -> dict[str, int]:
    hidden = hidden_quotas(req, network_since=50)
    shown = [r for r in service.RESOURCES if r not in hidden]
    if not microversion(req).at_least(50):
        # Before 2.50 the class API did not show the server group quotas.
        shown = [r for r in shown if r not in ("server_groups", "server_group_members")]
    return {r: values[r] for r in shown}


def _class_owner(class_name: str) -> str:
    if not 1 <= len(class_name) <= 64 - len(service.CLASS_PREFIX):
        raise BadRequest(
            f"Invalid input received: quota_class_name has to be between 1 and "
            f"{64 - len(service.CLASS_PREFIX)} characters long."
        )
    return service.CLASS_PREFIX + class_name


@endpoint(summary="Show a quota class")
def show_quota_class(req: ApiRequest) -> dict[str, Any]:
    enforce(req, "os_compute_api:os-quota-class-sets:show", {})
    class_name = req.path["class_name"]
    with req.cloud.db.session() as session:
        values = service.class_limits(session, class_name)
    return {"quota_class_set": {"id": class_name, **_class_view(req, values)}}


@endpoint(json_body=True, summary="Update a quota class")
def update_quota_class(req: ApiRequest) -> dict[str, Any]:
    hidden = hidden_quotas(req, network_since=50)
    if not microversion(req).at_least(50):
        hidden = hidden + ("server_groups", "server_group_members")
    check_body(req, _update_schema(req, "quota_class_set", hidden, with_force=False))
    enforce(req, "os_compute_api:os-quota-class-sets:update", {})
    class_name = req.path["class_name"]
    owner = _class_owner(class_name)
    with req.cloud.db.session() as session:
        service.set_limits(session, owner, {k: int(v) for k, v in req.body["quota_class_set"].items()})
        values = service.class_limits(session, class_name)
    return {"quota_class_set": _class_view(req, values)}


def routes() -> list[BaseRoute]:
    base = "/v2.1/os-quota-sets/{project_id}"
    return [
        Route(base, show_quota_set, methods=["GET"]),
        Route(base, update_quota_set, methods=["PUT"]),
        Route(base, delete_quota_set, methods=["DELETE"]),
        Route(base + "/detail", show_quota_set_detail, methods=["GET"]),
        Route(base + "/defaults", show_quota_defaults, methods=["GET"]),
        Route("/v2.1/os-quota-class-sets/{class_name}", show_quota_class, methods=["GET"]),
        Route("/v2.1/os-quota-class-sets/{class_name}", update_quota_class, methods=["PUT"]),
    ]
