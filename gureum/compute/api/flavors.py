"""/v2.1/flavors: flavors, their extra specs and who may use a private one.

Also the nova-style request checks the other compute modules share (body and
query schemas with nova's messages, limit/marker paging and next links), and the
flavor views the servers API embeds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gureum.compute import flavors as service
from gureum.compute.api.common import (  # noqa: F401 - the shared helpers, imported from here before
    MAX_LIMIT, NON_NEGATIVE_INT, PAGING, STRING, InvalidName, check_body, check_query, collection_links,
    limit_and_marker, links, microversion, strtime,
)
from gureum.compute.models import Flavor, FlavorAccess
from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import BadRequest, Conflict, Forbidden, NotFound
from gureum.identity.models import Project

# Policy answers stay here until each resource's policy moves into its service.
def enforce(req: ApiRequest, action: str, target: Mapping[str, Any] | None = None) -> None:
    """Policy check with nova's 403 message; the default target is the caller's project."""
    if not allowed(req, action, target):
        raise Forbidden(f"Policy doesn't allow {action} to be performed.")


def allowed(req: ApiRequest, action: str, target: Mapping[str, Any] | None = None) -> bool:
    return req.cloud.policy.authorize(
        req.context, action, target if target is not None else {"project_id": req.context.project_id}
    )


def verify_project_id(session: Any, project_id: str) -> None:
    """nova asks keystone whether a project exists; here it is one query away."""
    if session.get(Project, project_id) is None:
        raise BadRequest(f"Project ID {project_id} is not a valid project.")


# -- views ---------------------------------------------------------------------

EXTRA_SPECS_INDEX = "os_compute_api:os-flavor-extra-specs:index"


def flavor_brief(flavor: Flavor, req: ApiRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"id": flavor.id, "name": flavor.name, "links": links(req, "flavors", flavor.id)}
    if microversion(req).at_least(55):
        body["description"] = flavor.description
    return body


def flavor_view(flavor: Flavor, req: ApiRequest, include_extra_specs: bool | None = None) -> dict[str, Any]:
    """The flavor as GET /flavors/{id} shows it at the request's microversion (unwrapped)."""
    version = microversion(req)
    body: dict[str, Any] = {
        "id": flavor.id,
        "name": flavor.name,
        "ram": flavor.memory_mb,
        "disk": flavor.root_gb,
        # Before 2.75 nova shows a swap of 0 as "".
        "swap": flavor.swap if version.at_least(75) else (flavor.swap or ""),
        "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral_gb,
        "OS-FLV-DISABLED:disabled": flavor.disabled,
        "vcpus": flavor.vcpus,
        "os-flavor-access:is_public": flavor.is_public,
        "rxtx_factor": flavor.rxtx_factor or "",
        "links": links(req, "flavors", flavor.id),
    }
    if version.at_least(55):
        body["description"] = flavor.description
    if version.at_least(61):
        if include_extra_specs is None:
            include_extra_specs = allowed(req, EXTRA_SPECS_INDEX)
        if include_extra_specs:
            body["extra_specs"] = dict(flavor.extra_specs or {})
    return body


def embedded_flavor(
    snapshot: Mapping[str, Any], req: ApiRequest, show_extra_specs: bool | None = None
) -> dict[str, Any]:
    """A server's flavor: {id, links} before 2.47, the flavor's sizes and name from 2.47.

    `snapshot` is the Instance.flavor dict (see gureum.compute.flavors.flavor_snapshot).
    """
    if not snapshot:
        return {}
    if not microversion(req).at_least(47):
        flavor_id = str(snapshot.get("id", ""))
        return {"id": flavor_id, "links": [{"rel": "bookmark", "href": f"{req.base_url}/flavors/{flavor_id}"}]}
    body: dict[str, Any] = {
        "vcpus": snapshot.get("vcpus", 0),
        "ram": snapshot.get("ram", 0),
        "disk": snapshot.get("disk", 0),
        "ephemeral": snapshot.get("ephemeral", 0),
        "swap": snapshot.get("swap", 0),
        "original_name": snapshot.get("name", ""),
    }
    if show_extra_specs is None:
        show_extra_specs = allowed(req, "os_compute_api:servers:show:flavor-extra-specs")
    if show_extra_specs:
        body["extra_specs"] = dict(snapshot.get("extra_specs") or {})
    return body


def _access_view(flavor_id: str, projects: list[str]) -> dict[str, Any]:
    return {"flavor_access": [{"flavor_id": flavor_id, "tenant_id": p} for p in projects]}


# -- schemas -------------------------------------------------------------------

_POSITIVE = {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1, "maximum": service.MAX_INT}
_NON_NEGATIVE = {**_POSITIVE, "minimum": 0}
_NAME = {"type": "string", "format": "name", "minLength": 1, "maxLength": 255}
_DESCRIPTION = {"type": ["string", "null"], "minLength": 0, "maxLength": 65535}
_BOOLEAN = {
    "type": ["boolean", "string"],
    "enum": [True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "y", "t",
             False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no", "n", "f"],
}


def _create_schema(with_description: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "name": _NAME,
        "id": {"type": ["string", "number", "null"], "minLength": 1, "maxLength": 255,
               "pattern": "^(?! )[a-zA-Z0-9. _-]+(?<! )$"},
        "ram": _POSITIVE,
        "vcpus": _POSITIVE,
        "disk": _NON_NEGATIVE,
        "OS-FLV-EXT-DATA:ephemeral": _NON_NEGATIVE,
        "swap": _NON_NEGATIVE,
        "rxtx_factor": {"type": ["number", "string"], "pattern": r"^[0-9]+(\.[0-9]+)?$",
                        "exclusiveMinimum": 0, "maximum": 3.40282e38},
        "os-flavor-access:is_public": _BOOLEAN,
    }
    if with_description:
        properties["description"] = _DESCRIPTION
    return {
        "type": "object",
        "properties": {"flavor": {"type": "object", "properties": properties,
                                  "required": ["name", "ram", "vcpus", "disk"], "additionalProperties": False}},
        "required": ["flavor"],
        "additionalProperties": False,
    }


CREATE = _create_schema(False)
CREATE_V255 = _create_schema(True)
UPDATE = {
    "type": "object",
    "properties": {"flavor": {"type": "object", "properties": {"description": _DESCRIPTION},
                              "required": ["description"], "additionalProperties": False}},
    "required": ["flavor"],
    "additionalProperties": False,
}
_SPEC_KEY = "^[a-zA-Z0-9-_:. ]{1,255}$"
_SPECS = {
    "type": "object",
    "patternProperties": {_SPEC_KEY: {"type": ["string", "number"], "maxLength": 255}},
    "additionalProperties": False,
}
EXTRA_SPECS_CREATE = {"type": "object", "properties": {"extra_specs": _SPECS}, "required": ["extra_specs"],
                      "additionalProperties": False}
EXTRA_SPECS_UPDATE = {**_SPECS, "minProperties": 1, "maxProperties": 1}
_TENANT = {"type": "string", "minLength": 1, "maxLength": 255}


def _action_schema(action: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {action: {"type": "object", "properties": {"tenant": _TENANT},
                                "required": ["tenant"], "additionalProperties": False}},
        "required": [action],
        "additionalProperties": False,
    }


SORT_KEYS = {
    "created_at": lambda f: f.created_at,
    "description": lambda f: f.description,
    "disabled": lambda f: f.disabled,
    "ephemeral_gb": lambda f: f.ephemeral_gb,
    "flavorid": lambda f: f.id,
    "id": lambda f: f.created_at,
    "is_public": lambda f: f.is_public,
    "memory_mb": lambda f: f.memory_mb,
    "name": lambda f: f.name,
    "root_gb": lambda f: f.root_gb,
    "rxtx_factor": lambda f: f.rxtx_factor,
    "swap": lambda f: f.swap,
    "updated_at": lambda f: f.created_at,
    "vcpu_weight": lambda f: f.created_at,
    "vcpus": lambda f: f.vcpus,
}
LIST_QUERY = {
    **PAGING,
    "is_public": STRING,
    "minRam": STRING,
    "minDisk": STRING,
    "sort_key": {"type": "string", "enum": sorted(SORT_KEYS)},
    "sort_dir": {"type": "string", "enum": ["asc", "desc"]},
}

_TRUE = {"1", "t", "true", "on", "y", "yes"}
_FALSE = {"0", "f", "false", "off", "n", "no"}


def _parse_is_public(value: str | None) -> bool | None:
    if value is None:
        return True  # only public ones unless asked
    lowered = value.strip().lower()
    if lowered == "none":
        return None
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise BadRequest(f"Invalid is_public filter [{value}]")


# -- flavors -------------------------------------------------------------------


def _list(req: ApiRequest) -> list[Flavor]:
    params = check_query(req, LIST_QUERY)
    limit, marker = limit_and_marker(params)
    ctx = req.context
    query = select(Flavor)
    if ctx.is_admin:
        is_public = _parse_is_public(params.get("is_public"))
    else:
        is_public = True
        query = query.where(Flavor.disabled.is_(False))
    if is_public is not None:
        if is_public and ctx.project_id:
            # The public ones plus the private ones shared with the caller's project.
            shared = select(FlavorAccess.flavor_id).where(FlavorAccess.project_id == ctx.project_id)
            query = query.where((Flavor.is_public.is_(True)) | (Flavor.id.in_(shared)))
        else:
            query = query.where(Flavor.is_public.is_(is_public))
    for param, column in (("minRam", Flavor.memory_mb), ("minDisk", Flavor.root_gb)):
        if param in params:
            try:
                query = query.where(column >= int(params[param]))
            except ValueError as exc:
                raise BadRequest(f"Invalid {param} filter [{params[param]}]") from exc
    if "name" in params:
        query = query.where(Flavor.name == params["name"])
    with req.cloud.db.session() as session:
        found = list(session.execute(query).scalars())
    key = SORT_KEYS[params.get("sort_key") or "flavorid"]
    reverse = (params.get("sort_dir") or "asc") == "desc"
    found.sort(key=lambda f: (key(f) is None, key(f) if key(f) is not None else 0, f.id), reverse=reverse)
    if marker is not None:
        ids = [f.id for f in found]
        if marker not in ids:
            raise BadRequest(f"marker [{marker}] not found")
        found = found[ids.index(marker) + 1:]
    return found[:limit]


@endpoint(summary="List flavors")
def list_flavors(req: ApiRequest) -> dict[str, Any]:
    found = _list(req)
    body: dict[str, Any] = {"flavors": [flavor_brief(f, req) for f in found]}
    next_links = collection_links(req, "flavors", found, found[-1].id if found else None)
    if next_links:
        body["flavors_links"] = next_links
    return body


@endpoint(summary="List flavors with details")
def list_flavors_detail(req: ApiRequest) -> dict[str, Any]:
    found = _list(req)
    show_specs = allowed(req, EXTRA_SPECS_INDEX)
    body: dict[str, Any] = {"flavors": [flavor_view(f, req, show_specs) for f in found]}
    next_links = collection_links(req, "flavors/detail", found, found[-1].id if found else None)
    if next_links:
        body["flavors_links"] = next_links
    return body


@endpoint(summary="Show a flavor")
def show_flavor(req: ApiRequest) -> dict[str, Any]:
    check_query(req, {}, strict_since=102)
    with req.cloud.db.session() as session:
        flavor = service.find_flavor(session, req.path["flavor_id"], req.context)
    return {"flavor": flavor_view(flavor, req)}


@endpoint(json_body=True, summary="Create a flavor")
def create_flavor(req: ApiRequest) -> dict[str, Any]:
    with_description = microversion(req).at_least(55)
    check_body(req, CREATE_V255 if with_description else CREATE)
    enforce(req, "os_compute_api:os-flavor-manage:create", {})
    ref = req.body["flavor"]
    public = ref.get("os-flavor-access:is_public", True)
    if isinstance(public, str):
        public = public.strip().lower() in _TRUE
    with req.cloud.db.session() as session:
        flavor = service.create_flavor(
            session,
            name=ref["name"],
            ram=ref["ram"],
            vcpus=ref["vcpus"],
            disk=ref["disk"],
            flavor_id=ref.get("id"),
            ephemeral=ref.get("OS-FLV-EXT-DATA:ephemeral", 0),
            swap=ref.get("swap", 0),
            rxtx_factor=ref.get("rxtx_factor", 1.0),
            is_public=public,
            description=ref.get("description") if with_description else None,
        )
        return {"flavor": flavor_view(flavor, req)}


@endpoint(json_body=True, summary="Update a flavor's description (2.55)")
def update_flavor(req: ApiRequest) -> dict[str, Any]:
    if not microversion(req).at_least(55):
        raise NotFound("The resource could not be found.")
    check_body(req, UPDATE)
    enforce(req, "os_compute_api:os-flavor-manage:update", {})
    with req.cloud.db.session() as session:
        flavor = service.find_flavor(session, req.path["flavor_id"], req.context)
        flavor.description = req.body["flavor"]["description"]
        session.flush()
        return {"flavor": flavor_view(flavor, req)}


@endpoint(status=202, summary="Delete a flavor")
def delete_flavor(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-flavor-manage:delete", {})
    flavor_id = req.path["flavor_id"]
    with req.cloud.db.session() as session:
        flavor = session.get(Flavor, flavor_id)
        if flavor is None:
            raise service.not_found(flavor_id)
        session.execute(delete(FlavorAccess).where(FlavorAccess.flavor_id == flavor_id))
        session.delete(flavor)
    return Response(status_code=202)


# -- flavor access ---------------------------------------------------------------


@endpoint(summary="List the projects a private flavor is shared with")
def list_flavor_access(req: ApiRequest) -> dict[str, Any]:
    enforce(req, "os_compute_api:os-flavor-access")
    with req.cloud.db.session() as session:
        flavor = service.find_flavor(session, req.path["flavor_id"], req.context)
        if flavor.is_public:
            raise NotFound("Access list not available for public flavors.")
        return _access_view(flavor.id, service.access_projects(session, flavor.id))


@endpoint(json_body=True, summary="Flavor actions: addTenantAccess, removeTenantAccess")
def flavor_action(req: ApiRequest) -> dict[str, Any]:
    body = req.body
    if not isinstance(body, dict) or not body:
        raise BadRequest("Malformed request body")
    action = next(iter(body))
    if action == "addTenantAccess":
        return _add_tenant_access(req)
    if action == "removeTenantAccess":
        return _remove_tenant_access(req)
    raise BadRequest(f"There is no such action: {action}")


def _add_tenant_access(req: ApiRequest) -> dict[str, Any]:
    check_body(req, _action_schema("addTenantAccess"))
    enforce(req, "os_compute_api:os-flavor-access:add_tenant_access", {})
    tenant = req.body["addTenantAccess"]["tenant"]
    with req.cloud.db.session() as session:
        verify_project_id(session, tenant)
        flavor = service.find_flavor(session, req.path["flavor_id"], req.context)
        if microversion(req).at_least(7) and flavor.is_public:
            raise Conflict("Can not add access to a public flavor.")
        if session.get(FlavorAccess, (flavor.id, tenant)) is not None:
            raise Conflict(f"Flavor access already exists for flavor {flavor.id} and project {tenant} combination.")
        session.add(FlavorAccess(flavor_id=flavor.id, project_id=tenant))
        session.flush()
        return _access_view(flavor.id, service.access_projects(session, flavor.id))


def _remove_tenant_access(req: ApiRequest) -> dict[str, Any]:
    check_body(req, _action_schema("removeTenantAccess"))
    enforce(req, "os_compute_api:os-flavor-access:remove_tenant_access", {})
    tenant = req.body["removeTenantAccess"]["tenant"]
    with req.cloud.db.session() as session:
        # Like nova, removing a project that no longer exists is allowed.
        flavor = service.find_flavor(session, req.path["flavor_id"], req.context)
        grant = session.get(FlavorAccess, (flavor.id, tenant))
        if grant is None:
            raise NotFound(f"Flavor access not found for {flavor.id} / {tenant} combination.")
        session.delete(grant)
        session.flush()
        return _access_view(flavor.id, service.access_projects(session, flavor.id))


# -- extra specs -----------------------------------------------------------------


def _check_spec_values(specs: Mapping[str, Any]) -> None:
    for value in specs.values():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and len(str(value)) > 255:
            raise BadRequest("Invalid input received: extra_specs value has more than 255 characters.")


def _no_such_spec(flavor_id: str, key: str) -> NotFound:
    return NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")


@endpoint(summary="List a flavor's extra specs")
def list_extra_specs(req: ApiRequest) -> dict[str, Any]:
    enforce(req, "os_compute_api:os-flavor-extra-specs:index")
    with req.cloud.db.session() as session:
        flavor = service.find_flavor(session, req.path["flavor_id"], req.context)
        return {"extra_specs": dict(flavor.extra_specs or {})}


@endpoint(json_body=True, summary="Create or update extra specs")
def create_extra_specs(req: ApiRequest) -> dict[str, Any]:
    check_body(req, EXTRA_SPECS_CREATE)
    enforce(req, "os_compute_api:os-flavor-extra-specs:create", {})
    specs = req.body["extra_specs"]
    _check_spec_values(specs)
    with req.cloud.db.session() as session:
        flavor = service.find_flavor(session, req.path["flavor_id"], req.context)
        flavor.extra_specs = {**(flavor.extra_specs or {}), **{k: str(v) for k, v in specs.items()}}
    return req.body


@endpoint(summary="Show one extra spec")
def show_extra_spec(req: ApiRequest) -> dict[str, Any]:
    enforce(req, "os_compute_api:os-flavor-extra-specs:show")
    key = req.path["key"]
    with req.cloud.db.session() as session:
        flavor = service.find_flavor(session, req.path["flavor_id"], req.context)
        specs = flavor.extra_specs or {}
    if key not in specs:
        raise _no_such_spec(req.path["flavor_id"], key)
    return {key: specs[key]}


@endpoint(json_body=True, summary="Set one extra spec")
def update_extra_spec(req: ApiRequest) -> dict[str, Any]:
    check_body(req, EXTRA_SPECS_UPDATE)
    enforce(req, "os_compute_api:os-flavor-extra-specs:update", {})
    key = req.path["key"]
    _check_spec_values(req.body)
    if key not in req.body:
        raise BadRequest("Request body and URI mismatch")
    with req.cloud.db.session() as session:
        flavor = service.find_flavor(session, req.path["flavor_id"], req.context)
        flavor.extra_specs = {**(flavor.extra_specs or {}), key: str(req.body[key])}
    return req.body


@endpoint(summary="Delete one extra spec")
def delete_extra_spec(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-flavor-extra-specs:delete", {})
    key = req.path["key"]
    with req.cloud.db.session() as session:
        flavor = service.find_flavor(session, req.path["flavor_id"], req.context)
        specs = dict(flavor.extra_specs or {})
        if key not in specs:
            raise _no_such_spec(req.path["flavor_id"], key)
        del specs[key]
        flavor.extra_specs = specs
    return Response(status_code=200)


def routes() -> list[BaseRoute]:
    base = "/v2.1/flavors"
    return [
        Route(base, list_flavors, methods=["GET"]),
        Route(base, create_flavor, methods=["POST"]),
        Route(base + "/detail", list_flavors_detail, methods=["GET"]),
        Route(base + "/{flavor_id}", show_flavor, methods=["GET"]),
        Route(base + "/{flavor_id}", update_flavor, methods=["PUT"]),
        Route(base + "/{flavor_id}", delete_flavor, methods=["DELETE"]),
        Route(base + "/{flavor_id}/action", flavor_action, methods=["POST"]),
        Route(base + "/{flavor_id}/os-flavor-access", list_flavor_access, methods=["GET"]),
        Route(base + "/{flavor_id}/os-extra_specs", list_extra_specs, methods=["GET"]),
        Route(base + "/{flavor_id}/os-extra_specs", create_extra_specs, methods=["POST"]),
        Route(base + "/{flavor_id}/os-extra_specs/{key}", show_extra_spec, methods=["GET"]),
        Route(base + "/{flavor_id}/os-extra_specs/{key}", update_extra_spec, methods=["PUT"]),
        Route(base + "/{flavor_id}/os-extra_specs/{key}", delete_extra_spec, methods=["DELETE"]),
    ]


__all__ = [
    "check_body",
    "check_query",
    "collection_links",
    "embedded_flavor",
    "flavor_brief",
    "flavor_view",
    "limit_and_marker",
    "routes",
    "strtime",
]
