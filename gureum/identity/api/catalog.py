"""/v3/services, /v3/endpoints, /v3/regions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from gureum.db.base import new_id

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import BadRequest, Conflict, Forbidden
from gureum.identity.api.common import DESCRIPTION, ENABLED, NULLABLE_ID, get_or_404, query_bool, wrapped
from gureum.identity.models import Endpoint, Region, Service

INTERFACES = ("public", "internal", "admin")


def _collection(name: str, items: list[dict[str, Any]], req: ApiRequest) -> dict[str, Any]:
    return {name: items, "links": {"self": str(req.request.url), "previous": None, "next": None}}


# -- services -----------------------------------------------------------------------

SERVICE_PROPS = {"type": {"type": "string", "minLength": 1, "maxLength": 255}, "name": {"type": "string", "maxLength": 255},
                 "description": DESCRIPTION, "enabled": ENABLED}
SERVICE_CREATE = wrapped("service", SERVICE_PROPS, required=("type",))
SERVICE_UPDATE = wrapped("service", SERVICE_PROPS)
SERVICE_CORE = set(SERVICE_PROPS) | {"id", "links"}


def service_view(s: Service, base: str) -> dict[str, Any]:
    return {"id": s.id, "type": s.type, "name": s.name, "description": s.description, "enabled": s.enabled,
            "links": {"self": f"{base}/v3/services/{s.id}"}, **(s.extra or {})}


@endpoint(summary="List services")
def list_services(req: ApiRequest) -> dict[str, Any]:
    req.cloud.policy.enforce(req.context, "identity:list_services")
    query = select(Service).order_by(Service.type)
    for key in ("type", "name"):
        if key in req.query:
            query = query.where(getattr(Service, key) == req.query[key])
    with req.cloud.db.read() as session:
        return _collection("services", [service_view(s, req.base_url) for s in session.execute(query).scalars()], req)


@endpoint(schema=SERVICE_CREATE, status=201, summary="Create a service")
def create_service(req: ApiRequest) -> tuple[int, dict[str, Any]]:
    req.cloud.policy.enforce(req.context, "identity:create_service")
    ref = req.body["service"]
    with req.cloud.identity.write() as session:
        service = Service(type=ref["type"], name=ref.get("name") or "", description=ref.get("description") or "",
                          enabled=ref.get("enabled", True), extra={k: v for k, v in ref.items() if k not in SERVICE_CORE})
        session.add(service)
        session.flush()
        return 201, {"service": service_view(service, req.base_url)}


@endpoint(summary="Show a service")
def get_service(req: ApiRequest) -> dict[str, Any]:
    req.cloud.policy.enforce(req.context, "identity:get_service")
    with req.cloud.db.read() as session:
        return {"service": service_view(get_or_404(session, Service, req.path["service_id"], "service"), req.base_url)}


@endpoint(schema=SERVICE_UPDATE, summary="Update a service")
def update_service(req: ApiRequest) -> dict[str, Any]:
    req.cloud.policy.enforce(req.context, "identity:update_service")
    ref = req.body["service"]
    with req.cloud.identity.write() as session:
        service = get_or_404(session, Service, req.path["service_id"], "service")
        for key in ("type", "name", "enabled"):
            if key in ref:
                setattr(service, key, ref[key])
        if "description" in ref:
            service.description = ref["description"] or ""
        service.extra = {**(service.extra or {}), **{k: v for k, v in ref.items() if k not in SERVICE_CORE}}
        session.flush()
        return {"service": service_view(service, req.base_url)}


@endpoint(summary="Delete a service")
def delete_service(req: ApiRequest) -> None:
    req.cloud.policy.enforce(req.context, "identity:delete_service")
    with req.cloud.identity.write() as session:
        service = get_or_404(session, Service, req.path["service_id"], "service")
        for e in session.execute(select(Endpoint).where(Endpoint.service_id == service.id)).scalars():
            session.delete(e)
        session.delete(service)


# -- endpoints ----------------------------------------------------------------------

ENDPOINT_PROPS = {
    "service_id": {"type": "string", "minLength": 1, "maxLength": 64},
    "interface": {"type": "string", "enum": list(INTERFACES)},
    "url": {"type": "string", "minLength": 1, "maxLength": 225, "pattern": "^[a-zA-Z0-9+.-]+://"},
    "region_id": NULLABLE_ID,
    "region": NULLABLE_ID,
    "enabled": ENABLED,
}
ENDPOINT_CREATE = wrapped("endpoint", ENDPOINT_PROPS, required=("service_id", "interface", "url"))
ENDPOINT_UPDATE = wrapped("endpoint", ENDPOINT_PROPS)
ENDPOINT_CORE = set(ENDPOINT_PROPS) | {"id", "links"}


def endpoint_view(e: Endpoint, base: str) -> dict[str, Any]:
    extra = {k: v for k, v in (e.extra or {}).items() if k != "gureum_managed"}
    return {"id": e.id, "service_id": e.service_id, "interface": e.interface, "url": e.url, "region_id": e.region_id,
            "region": e.region_id, "enabled": e.enabled, "links": {"self": f"{base}/v3/endpoints/{e.id}"}, **extra}


def _endpoint_region(session: Any, ref: dict[str, Any]) -> str | None:
    """keystone creates a region an endpoint names but that does not exist yet."""
    region_id = ref.get("region_id") or ref.get("region")
    if region_id and session.get(Region, region_id) is None:
        session.add(Region(id=region_id, description=""))
        session.flush()
    return region_id


@endpoint(summary="List endpoints")
def list_endpoints(req: ApiRequest) -> dict[str, Any]:
    req.cloud.policy.enforce(req.context, "identity:list_endpoints")
    query = select(Endpoint)
    for key in ("service_id", "interface", "region_id"):
        if key in req.query:
            query = query.where(getattr(Endpoint, key) == req.query[key])
    if "enabled" in req.query:
        query = query.where(Endpoint.enabled.is_(query_bool(req.query["enabled"])))
    with req.cloud.db.read() as session:
        return _collection("endpoints", [endpoint_view(e, req.base_url) for e in session.execute(query).scalars()], req)


@endpoint(schema=ENDPOINT_CREATE, status=201, summary="Create an endpoint")
def create_endpoint(req: ApiRequest) -> tuple[int, dict[str, Any]]:
    req.cloud.policy.enforce(req.context, "identity:create_endpoint")
    ref = req.body["endpoint"]
    with req.cloud.identity.write() as session:
        if session.get(Service, ref["service_id"]) is None:
            raise BadRequest(f"Invalid input for field 'service_id': service {ref['service_id']} does not exist.")
        e = Endpoint(service_id=ref["service_id"], interface=ref["interface"], url=ref["url"],
                     region_id=_endpoint_region(session, ref), enabled=ref.get("enabled", True),
                     extra={k: v for k, v in ref.items() if k not in ENDPOINT_CORE})
        session.add(e)
        session.flush()
        return 201, {"endpoint": endpoint_view(e, req.base_url)}


@endpoint(summary="Show an endpoint")
def get_endpoint(req: ApiRequest) -> dict[str, Any]:
    req.cloud.policy.enforce(req.context, "identity:get_endpoint")
    with req.cloud.db.read() as session:
        return {"endpoint": endpoint_view(get_or_404(session, Endpoint, req.path["endpoint_id"], "endpoint"), req.base_url)}


@endpoint(schema=ENDPOINT_UPDATE, summary="Update an endpoint")
def update_endpoint(req: ApiRequest) -> dict[str, Any]:
    req.cloud.policy.enforce(req.context, "identity:update_endpoint")
    ref = req.body["endpoint"]
    with req.cloud.identity.write() as session:
        e = get_or_404(session, Endpoint, req.path["endpoint_id"], "endpoint")
        if "service_id" in ref:
            if session.get(Service, ref["service_id"]) is None:
                raise BadRequest(f"Invalid input for field 'service_id': service {ref['service_id']} does not exist.")
            e.service_id = ref["service_id"]
        for key in ("interface", "url", "enabled"):
            if key in ref:
                setattr(e, key, ref[key])
        if "region_id" in ref or "region" in ref:
            e.region_id = _endpoint_region(session, ref)
        # An operator's edit makes the endpoint theirs: bootstrap stops moving it.
        e.extra = {**{k: v for k, v in (e.extra or {}).items() if k != "gureum_managed"},
                   **{k: v for k, v in ref.items() if k not in ENDPOINT_CORE}}
        session.flush()
        return {"endpoint": endpoint_view(e, req.base_url)}


@endpoint(summary="Delete an endpoint")
def delete_endpoint(req: ApiRequest) -> None:
    req.cloud.policy.enforce(req.context, "identity:delete_endpoint")
    with req.cloud.identity.write() as session:
        session.delete(get_or_404(session, Endpoint, req.path["endpoint_id"], "endpoint"))


# -- regions ------------------------------------------------------------------------

REGION_PROPS = {"id": {"type": "string", "minLength": 1, "maxLength": 255}, "description": DESCRIPTION,
                "parent_region_id": NULLABLE_ID}
REGION_CREATE = wrapped("region", REGION_PROPS)
REGION_CORE = set(REGION_PROPS) | {"links"}


def region_view(r: Region, base: str) -> dict[str, Any]:
    return {"id": r.id, "description": r.description, "parent_region_id": r.parent_region_id,
            "links": {"self": f"{base}/v3/regions/{r.id}"}, **(r.extra or {})}


@endpoint(auth=True, summary="List regions")
def list_regions(req: ApiRequest) -> dict[str, Any]:
    req.cloud.policy.enforce(req.context, "identity:list_regions")
    query = select(Region).order_by(Region.id)
    if "parent_region_id" in req.query:
        query = query.where(Region.parent_region_id == req.query["parent_region_id"])
    with req.cloud.db.read() as session:
        return _collection("regions", [region_view(r, req.base_url) for r in session.execute(query).scalars()], req)


def _save_region(req: ApiRequest, region_id: str | None) -> tuple[int, dict[str, Any]]:
    req.cloud.policy.enforce(req.context, "identity:create_region")
    ref = req.body["region"]
    if region_id and ref.get("id") not in (None, region_id):
        raise BadRequest("Invalid input for field 'id': it differs from the id in the URL.")
    new_region_id = region_id or ref.get("id") or new_id()
    with req.cloud.identity.write() as session:
        if session.get(Region, new_region_id) is not None:
            raise Conflict(f"Conflict occurred attempting to store region - Duplicate ID, {new_region_id}.")
        parent = ref.get("parent_region_id")
        if parent and session.get(Region, parent) is None:
            raise NotFoundParent(parent)
        region = Region(id=new_region_id, description=ref.get("description") or "", parent_region_id=parent,
                        extra={k: v for k, v in ref.items() if k not in REGION_CORE})
        session.add(region)
        session.flush()
        return 201, {"region": region_view(region, req.base_url)}


class NotFoundParent(BadRequest):
    def __init__(self, parent: str) -> None:
        super().__init__(f"Invalid input for field 'parent_region_id': region {parent} does not exist.")


@endpoint(schema=REGION_CREATE, status=201, summary="Create a region")
def create_region(req: ApiRequest) -> tuple[int, dict[str, Any]]:
    return _save_region(req, None)


@endpoint(schema=REGION_CREATE, status=201, summary="Create a region with a given id")
def create_region_with_id(req: ApiRequest) -> tuple[int, dict[str, Any]]:
    return _save_region(req, req.path["region_id"])


@endpoint(summary="Show a region")
def get_region(req: ApiRequest) -> dict[str, Any]:
    req.cloud.policy.enforce(req.context, "identity:get_region")
    with req.cloud.db.read() as session:
        return {"region": region_view(get_or_404(session, Region, req.path["region_id"], "region"), req.base_url)}


@endpoint(schema=wrapped("region", {"description": DESCRIPTION, "parent_region_id": NULLABLE_ID}), summary="Update a region")
def update_region(req: ApiRequest) -> dict[str, Any]:
    req.cloud.policy.enforce(req.context, "identity:update_region")
    ref = req.body["region"]
    with req.cloud.identity.write() as session:
        region = get_or_404(session, Region, req.path["region_id"], "region")
        if "description" in ref:
            region.description = ref["description"] or ""
        if "parent_region_id" in ref:
            parent = ref["parent_region_id"]
            if parent == region.id:
                raise BadRequest("Invalid input for field 'parent_region_id': a region cannot be its own parent.")
            if parent and session.get(Region, parent) is None:
                raise NotFoundParent(parent)
            region.parent_region_id = parent
        region.extra = {**(region.extra or {}), **{k: v for k, v in ref.items() if k not in REGION_CORE}}
        session.flush()
        return {"region": region_view(region, req.base_url)}


@endpoint(summary="Delete a region")
def delete_region(req: ApiRequest) -> None:
    req.cloud.policy.enforce(req.context, "identity:delete_region")
    with req.cloud.identity.write() as session:
        region = get_or_404(session, Region, req.path["region_id"], "region")
        if session.execute(select(Region.id).where(Region.parent_region_id == region.id)).first():
            raise Forbidden(f"Cannot delete region {region.id}: it has child regions.")
        session.delete(region)
