"""/v2.1/os-keypairs: a user's keypairs (admins may name another user from 2.10)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gureum.compute import keypairs as service
from gureum.compute.api.common import microversion
from gureum.compute.api.common import PAGING, STRING, check_body, check_query, collection_links, limit_and_marker, strtime
from gureum.compute.api.flavors import enforce
from gureum.compute.models import KeyPair
from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import BadRequest, Conflict

_NAME = {
    "allOf": [
        {"type": "string", "format": "name", "minLength": 1, "maxLength": 255},
        {"type": "string", "pattern": r"^[_\- a-zA-Z0-9]+$", "minLength": 1, "maxLength": 255},
    ]
}


def _create_schema(with_type: bool, with_user: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {"name": _NAME, "public_key": {"type": "string"}}
    if with_type:
        properties["type"] = {"type": "string", "enum": [service.TYPE_SSH, service.TYPE_X509]}
    if with_user:
        properties["user_id"] = {"type": "string"}
    return {
        "type": "object",
        "properties": {"keypair": {"type": "object", "properties": properties, "required": ["name"],
                                   "additionalProperties": False}},
        "required": ["keypair"],
        "additionalProperties": False,
    }


def _user_id(req: ApiRequest) -> str:
    """The keypairs' owner: the caller, or from 2.10 the user_id query parameter (policy decides)."""
    if microversion(req).at_least(10) and req.query.getlist("user_id"):
        return req.query.getlist("user_id")[0]
    return req.context.user_id


def _query(req: ApiRequest, paging: bool = False) -> dict[str, str]:
    version = microversion(req)
    properties: dict[str, Any] = {}
    if version.at_least(10):
        properties["user_id"] = STRING
    if paging:
        properties.update(PAGING)
    return check_query(req, properties)


def _view(keypair: KeyPair, fields: tuple[str, ...], with_type: bool) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": keypair.name,
        "public_key": keypair.public_key,
        "fingerprint": keypair.fingerprint,
        "user_id": keypair.user_id,
        "created_at": strtime(keypair.created_at),
        "deleted": False,
        "deleted_at": None,
        "id": keypair.id,
        "updated_at": None,
    }
    body = {field: values[field] for field in fields}
    if with_type:
        body["type"] = keypair.type
    return body


INDEX_FIELDS = ("name", "public_key", "fingerprint")
CREATE_FIELDS = INDEX_FIELDS + ("user_id",)
SHOW_FIELDS = CREATE_FIELDS + ("created_at", "deleted", "deleted_at", "id", "updated_at")


@endpoint(summary="List keypairs")
def list_keypairs(req: ApiRequest) -> dict[str, Any]:
    version = microversion(req)
    paged = version.at_least(35)
    params = _query(req, paging=paged)
    user_id = _user_id(req)
    enforce(req, "os_compute_api:os-keypairs:index", {"user_id": user_id})
    query = select(KeyPair).where(KeyPair.user_id == user_id).order_by(KeyPair.name)
    with req.cloud.db.session() as session:
        found = list(session.execute(query).scalars())
    if paged:
        limit, marker = limit_and_marker(params)
        if marker is not None:
            names = [k.name for k in found]
            if marker not in names:
                raise BadRequest(f"Marker {marker} could not be found.")
            found = found[names.index(marker) + 1:]
        found = found[:limit]
    with_type = version.at_least(2)
    body: dict[str, Any] = {"keypairs": [{"keypair": _view(k, INDEX_FIELDS, with_type)} for k in found]}
    if paged:
        next_links = collection_links(req, "os-keypairs", found, found[-1].name if found else None)
        if next_links:
            body["keypairs_links"] = next_links
    return body


@endpoint(json_body=True, summary="Create or import a keypair")
def create_keypair(req: ApiRequest) -> tuple[int, dict[str, Any]]:
    version = microversion(req)
    check_body(req, _create_schema(version.at_least(2), version.at_least(10)))
    ref = req.body["keypair"]
    user_id = ref.get("user_id") or req.context.user_id
    enforce(req, "os_compute_api:os-keypairs:create", {"user_id": user_id})
    key_type = ref.get("type", service.TYPE_SSH)
    try:
        with req.cloud.db.session() as session:
            keypair, private_key = service.create_keypair(
                session,
                project_id=req.context.project_id or "",
                user_id=user_id,
                name=ref["name"],
                key_type=key_type,
                public_key=ref.get("public_key"),
            )
            body = _view(keypair, CREATE_FIELDS, version.at_least(2))
    except IntegrityError as exc:  # a concurrent create of the same name won
        raise Conflict(f"Key pair '{ref['name']}' already exists.") from exc
    if private_key is not None:
        body["private_key"] = private_key
    return (201 if version.at_least(2) else 200), {"keypair": body}


@endpoint(summary="Show a keypair")
def show_keypair(req: ApiRequest) -> dict[str, Any]:
    _query(req)
    user_id = _user_id(req)
    enforce(req, "os_compute_api:os-keypairs:show", {"user_id": user_id})
    with req.cloud.db.session() as session:
        keypair = service.get_keypair(session, user_id, req.path["name"])
        return {"keypair": _view(keypair, SHOW_FIELDS, microversion(req).at_least(2))}


@endpoint(summary="Delete a keypair")
def delete_keypair(req: ApiRequest) -> Response:
    _query(req)
    user_id = _user_id(req)
    enforce(req, "os_compute_api:os-keypairs:delete", {"user_id": user_id})
    with req.cloud.db.session() as session:
        session.delete(service.get_keypair(session, user_id, req.path["name"]))
    return Response(status_code=204 if microversion(req).at_least(2) else 202)


def routes() -> list[BaseRoute]:
    return [
        Route("/v2.1/os-keypairs", list_keypairs, methods=["GET"]),
        Route("/v2.1/os-keypairs", create_keypair, methods=["POST"]),
        Route("/v2.1/os-keypairs/{name}", show_keypair, methods=["GET"]),
        Route("/v2.1/os-keypairs/{name}", delete_keypair, methods=["DELETE"]),
    ]
