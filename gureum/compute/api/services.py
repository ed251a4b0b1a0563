"""/v2.1/os-services: nova-compute on each registered host, and the controller's own services.

Nova keeps a services table; here a Host row is its nova-compute service, and the
controller's nova-scheduler and nova-conductor are this very process (up while it
answers, in the "internal" zone, and not something one can disable or delete).
Service ids: integers before 2.53 (the controller's take 1 and 2, a host's is its
id plus 2), uuids from 2.53 (derived, so stable across restarts).
"""

from __future__ import annotations

import re
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gureum.compute import hosts
from gureum.compute.api.common import microversion
from gureum.compute.api.common import check_body, check_query, strtime
from gureum.compute.api.flavors import enforce
from gureum.compute.models import Allocation, Host, Instance
from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import BadRequest, Conflict, NotFound

COMPUTE_BINARY = "nova-compute"
CONTROLLER_BINARIES = ("nova-scheduler", "nova-conductor")
INTERNAL_ZONE = "internal"
_NAMESPACE = uuid.UUID("5f1e0e8c-6a0e-4f57-9c55-6b1d2a7e0c11")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")


def controller_hostname() -> str:
    return socket.gethostname()


def is_uuid_like(value: str) -> bool:
    return bool(_UUID_RE.match(value))


def compute_service_uuid(host: Host) -> str:
    """The nova-compute service's uuid: stable, and distinct from the hypervisor's (Host.uuid)."""
    return str(uuid.uuid5(_NAMESPACE, f"{host.uuid}/{COMPUTE_BINARY}"))


def compute_service_id(host: Host) -> int:
    return host.id + len(CONTROLLER_BINARIES)


def service_ref(host: Host, req: ApiRequest) -> int | str:
    return compute_service_uuid(host) if microversion(req).at_least(53) else compute_service_id(host)


@dataclass
class ServiceRow:
    """One entry of the services list, whatever it comes from."""

    int_id: int
    uuid: str
    binary: str
    host: str
    zone: str
    disabled: bool
    disabled_reason: str | None
    up: bool
    forced_down: bool
    updated_at: datetime | None
    host_row: Host | None = None


def controller_rows() -> list[ServiceRow]:
    hostname = controller_hostname()
    now = datetime.now(timezone.utc)
    return [
        ServiceRow(int_id=i + 1, uuid=str(uuid.uuid5(_NAMESPACE, f"{hostname}/{binary}")), binary=binary,
                   host=hostname, zone=INTERNAL_ZONE, disabled=False, disabled_reason=None, up=True,
                   forced_down=False, updated_at=now)
        for i, binary in enumerate(CONTROLLER_BINARIES)
    ]


def compute_row(host: Host) -> ServiceRow:
    return ServiceRow(int_id=compute_service_id(host), uuid=compute_service_uuid(host), binary=COMPUTE_BINARY,
                      host=host.hostname, zone=host.availability_zone, disabled=host.disabled,
                      disabled_reason=host.disabled_reason, up=hosts.is_up(host), forced_down=host.forced_down,
                      updated_at=host.last_seen_at, host_row=host)


def all_rows(session: Session) -> list[ServiceRow]:
    computes = session.execute(select(Host).order_by(Host.id)).scalars()
    return controller_rows() + [compute_row(h) for h in computes]


def service_view(row: ServiceRow, req: ApiRequest) -> dict[str, Any]:
    version = microversion(req)
    body: dict[str, Any] = {
        "id": row.uuid if version.at_least(53) else row.int_id,
        "binary": row.binary,
        "host": row.host,
        "zone": row.zone,
        "status": "disabled" if row.disabled else "enabled",
        "state": "up" if row.up else "down",
        "updated_at": strtime(row.updated_at),
        "disabled_reason": row.disabled_reason,
    }
    if version.at_least(11):
        body["forced_down"] = row.forced_down
    return body


@endpoint(summary="List compute services")
def list_services(req: ApiRequest) -> dict[str, Any]:
    params = check_query(req, {"host": {"type": "string"}, "binary": {"type": "string"}})
    enforce(req, "os_compute_api:os-services:list", {})
    with req.cloud.db.session() as session:
        rows = all_rows(session)
    if params.get("host"):
        rows = [r for r in rows if r.host == params["host"]]
    if params.get("binary"):
        rows = [r for r in rows if r.binary == params["binary"]]
    return {"services": [service_view(r, req) for r in rows]}


_BOOLEAN = {
    "type": ["boolean", "string"],
    "enum": [True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "y", "t",
             False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no", "n", "f"],
}
_REASON = {"type": "string", "minLength": 1, "maxLength": 255}
_HOST = {"type": "string", "minLength": 1, "maxLength": 255}
_TRUE = {"true", "1", "on", "yes", "y", "t"}


def _bool(value: Any) -> bool:
    return str(value).strip().lower() in _TRUE


def _not_compute(binary: str) -> BadRequest:
    return BadRequest(f"Updating a {binary} service is not supported. Only nova-compute services can be updated.")


@endpoint(json_body=True, summary="Enable, disable or force down a compute service")
def update_service(req: ApiRequest) -> dict[str, Any]:
    if microversion(req).at_least(53):
        return _update_v253(req)
    return _update_v21(req)


def _update_v21(req: ApiRequest) -> dict[str, Any]:
    properties: dict[str, Any] = {"host": _HOST, "binary": _HOST, "disabled_reason": _REASON}
    if microversion(req).at_least(11):
        properties["forced_down"] = _BOOLEAN
    check_body(req, {"type": "object", "properties": properties, "required": ["host", "binary"],
                     "additionalProperties": False})
    enforce(req, "os_compute_api:os-services:update", {})
    action = req.path["service_id"]
    actions = {"enable", "disable", "disable-log-reason"}
    if microversion(req).at_least(11):
        actions.add("force-down")
    if action not in actions:
        raise NotFound("Unknown action")
    body = req.body
    host_name, binary = body["host"], body["binary"]
    if action == "disable-log-reason" and "disabled_reason" not in body:
        raise BadRequest("Missing disabled reason field")
    if action == "force-down" and "forced_down" not in body:
        raise BadRequest("Missing forced_down field")
    if binary != COMPUTE_BINARY:
        raise _not_compute(binary)
    with req.cloud.db.session() as session:
        host = session.execute(select(Host).where(Host.hostname == host_name)).scalar_one_or_none()
        if host is None:
            raise NotFound(f"Could not find binary {binary} on host {host_name}.")
        if action == "force-down":
            host.forced_down = _bool(body["forced_down"])
            return {"service": {"host": host_name, "binary": binary, "forced_down": host.forced_down}}
        if action == "enable":
            host.disabled, host.disabled_reason = False, None
            return {"service": {"host": host_name, "binary": binary, "status": "enabled"}}
        reason = body.get("disabled_reason") if action == "disable-log-reason" else None
        host.disabled, host.disabled_reason = True, reason
        answer: dict[str, Any] = {"host": host_name, "binary": binary, "status": "disabled"}
        if reason:
            answer["disabled_reason"] = reason
        return {"service": answer}


def _find_by_uuid(session: Session, service_id: str) -> ServiceRow:
    for row in all_rows(session):
        if row.uuid == service_id:
            return row
    raise NotFound(f"Service {service_id} could not be found.")


def _update_v253(req: ApiRequest) -> dict[str, Any]:
    check_body(req, {"type": "object", "properties": {
        "status": {"type": "string", "enum": ["enabled", "disabled"]},
        "disabled_reason": _REASON,
        "forced_down": _BOOLEAN,
    }, "additionalProperties": False})
    service_id = req.path["service_id"]
    if not is_uuid_like(service_id):
        raise BadRequest(f"Invalid uuid {service_id}")
    enforce(req, "os_compute_api:os-services:update", {})
    body = req.body or {}
    with req.cloud.db.session() as session:
        row = _find_by_uuid(session, service_id)
        if row.host_row is None:
            raise _not_compute(row.binary)
        host = row.host_row
        changed = False
        if "status" in body:
            if body["status"] == "enabled":
                if body.get("disabled_reason"):
                    raise BadRequest("Specifying 'disabled_reason' with status 'enabled' is invalid.")
                host.disabled, host.disabled_reason = False, None
            else:
                host.disabled, host.disabled_reason = True, body.get("disabled_reason")
            changed = True
        if "forced_down" in body:
            host.forced_down = _bool(body["forced_down"])
            changed = True
        if not changed:
            raise BadRequest("No updates were requested. Fields 'status' or 'forced_down' should be specified.")
        session.flush()
        return {"service": service_view(compute_row(host), req)}


@endpoint(status=204, summary="Delete a compute service")
def delete_service(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-services:delete", {})
    service_id = req.path["service_id"]
    uuid_ids = microversion(req).at_least(53)
    if uuid_ids and not is_uuid_like(service_id):
        raise BadRequest(f"Invalid uuid {service_id}")
    if not uuid_ids and not service_id.strip().lstrip("-").isdigit():
        raise BadRequest("Invalid input received: id must be an integer.")
    with req.cloud.db.session() as session:
        rows = all_rows(session)
        match = [r for r in rows if (r.uuid == service_id if uuid_ids else r.int_id == int(service_id))]
        if not match:
            raise NotFound(f"Service {service_id} not found.")
        row = match[0]
        if row.host_row is None:
            raise Conflict(f"The controller's {row.binary} service is part of the running controller; "
                           "it cannot be deleted.")
        host = row.host_row
        hosting = session.execute(
            select(func.count()).select_from(Instance).where(Instance.host_id == host.id, Instance.deleted.is_(False))
        ).scalar_one()
        claims = session.execute(
            select(func.count()).select_from(Allocation).where(Allocation.host_id == host.id)
        ).scalar_one()
        if hosting or claims:
            raise Conflict("Unable to delete compute service that is hosting instances. "
                           "Migrate or delete the instances first.")
        # Deleted instances may still name the host; let them forget it so the row can go.
        session.execute(update(Instance).where(Instance.host_id == host.id).values(host_id=None))
        session.delete(host)
    return Response(status_code=204)


def routes() -> list[BaseRoute]:
    return [
        Route("/v2.1/os-services", list_services, methods=["GET"]),
        Route("/v2.1/os-services/{service_id}", update_service, methods=["PUT"]),
        Route("/v2.1/os-services/{service_id}", delete_service, methods=["DELETE"]),
    ]
