"""/v2.1/os-hypervisors: each registered host as a QEMU hypervisor, and their totals.

Ids are Host.id before 2.53 and Host.uuid from 2.53. Memory "used" includes the
host's reserve, as nova's does (a fresh 7683 MB node shows 512 MB used). Also a
read-only /v2.1/os-aggregates, because `openstack hypervisor show` lists
aggregates: every availability zone other than the default one is shown as the
aggregate nova would have made for it.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute, Route

from gureum.compute import hosts
from gureum.compute.api.common import microversion
from gureum.compute.api.common import NON_NEGATIVE_INT, PAGING, STRING, check_query, collection_links, limit_and_marker, strtime
from gureum.compute.api.flavors import enforce
from gureum.compute.api.services import controller_hostname, is_uuid_like, service_ref
from gureum.compute.models import Host, Instance
from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import ApiError, BadRequest, NotFound

DEFAULT_ZONE = "nova"
_BOOLEAN = {
    "type": ["boolean", "string"],
    "enum": [True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "y", "t",
             False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no", "n", "f"],
}
_TRUE = {"true", "1", "on", "yes", "y", "t"}


def _id(host: Host, req: ApiRequest) -> int | str:
    return host.uuid if microversion(req).at_least(53) else host.id


def memory_used(host: Host) -> int:
    return host.used_memory_mb + host.reserved_memory_mb


def disk_used(host: Host) -> int:
    return host.used_disk_gb + host.reserved_disk_gb


def hypervisor_view(host: Host, req: ApiRequest, detail: bool, servers: list[Instance] | None = None,
                    with_servers: bool = False) -> dict[str, Any]:
    version = microversion(req)
    body: dict[str, Any] = {
        "id": _id(host, req),
        "hypervisor_hostname": host.hostname,
        "state": "up" if hosts.is_up(host) else "down",
        "status": "disabled" if host.disabled else "enabled",
    }
    if detail:
        free_disk = host.disk_gb - disk_used(host)
        body.update({
            "hypervisor_type": host.hypervisor_type,
            "hypervisor_version": host.hypervisor_version,
            "host_ip": host.host_ip,
            "service": {"id": service_ref(host, req), "host": host.hostname, "disabled_reason": host.disabled_reason},
            "vcpus": host.vcpus,
            "memory_mb": host.memory_mb,
            "local_gb": host.disk_gb,
            "vcpus_used": host.used_vcpus,
            "memory_mb_used": memory_used(host),
            "local_gb_used": disk_used(host),
            "free_ram_mb": host.memory_mb - memory_used(host),
            "free_disk_gb": free_disk,
            "current_workload": 0,
            "running_vms": host.running_vms,
            "disk_available_least": free_disk,
        })
        cpu_info = dict(host.cpu_info or {})
        body["cpu_info"] = cpu_info if version.at_least(28) else json.dumps(cpu_info)
    if servers:
        body["servers"] = [{"name": s.name, "uuid": s.uuid} for s in servers]
    elif with_servers and version.at_least(75):
        body["servers"] = []
    return body


def _servers_on(session: Session, host: Host) -> list[Instance]:
    return list(session.execute(
        select(Instance).where(Instance.host_id == host.id, Instance.deleted.is_(False)).order_by(Instance.created_at)
    ).scalars())


def _matching(session: Session, pattern: str) -> list[Host]:
    found = list(session.execute(
        select(Host).where(Host.hostname.contains(pattern, autoescape=True)).order_by(Host.id)
    ).scalars())
    if not found:
        raise NotFound(f"No hypervisor matching '{pattern}' could be found.")
    return found


def _list(req: ApiRequest, detail: bool) -> dict[str, Any]:
    version = microversion(req)
    properties: dict[str, Any] = {}
    if version.at_least(33):
        properties.update(PAGING)
    if version.at_least(53):
        properties.update({"hypervisor_hostname_pattern": STRING, "with_servers": _BOOLEAN})
        properties["limit"] = NON_NEGATIVE_INT
    params = check_query(req, properties, strict_since=53)
    enforce(req, "os_compute_api:os-hypervisors:list-detail" if detail else "os_compute_api:os-hypervisors:list", {})
    pattern = params.get("hypervisor_hostname_pattern") if version.at_least(53) else None
    with_servers = version.at_least(53) and str(params.get("with_servers", "false")).lower() in _TRUE
    paged = version.at_least(33)
    with req.cloud.db.session() as session:
        if pattern is not None:
            if "limit" in params or "marker" in params:
                raise BadRequest("Paging over hypervisors with the hypervisor_hostname_pattern query "
                                 "parameter is not supported.")
            found = _matching(session, pattern)
            paged = False
        else:
            found = list(session.execute(select(Host).order_by(Host.id)).scalars())
            if version.at_least(33):
                limit, marker = limit_and_marker(params)
                if marker is not None:
                    ids = [str(_id(h, req)) for h in found]
                    if marker not in ids:
                        raise BadRequest(f"marker [{marker}] not found")
                    found = found[ids.index(marker) + 1:]
                found = found[:limit]
        items = [hypervisor_view(h, req, detail, _servers_on(session, h) if with_servers else None, with_servers)
                 for h in found]
    body: dict[str, Any] = {"hypervisors": items}
    if paged:
        collection = "os-hypervisors/detail" if detail else "os-hypervisors"
        next_links = collection_links(req, collection, items, str(items[-1]["id"]) if items else None)
        if next_links:
            body["hypervisors_links"] = next_links
    return body


@endpoint(summary="List hypervisors")
def list_hypervisors(req: ApiRequest) -> dict[str, Any]:
    return _list(req, detail=False)


@endpoint(summary="List hypervisors with details")
def list_hypervisors_detail(req: ApiRequest) -> dict[str, Any]:
    return _list(req, detail=True)


def _find(session: Session, req: ApiRequest, hypervisor_id: str) -> Host:
    missing = NotFound(f"Hypervisor with ID '{hypervisor_id}' could not be found.")
    if microversion(req).at_least(53):
        if not is_uuid_like(hypervisor_id):
            raise BadRequest(f"Invalid uuid {hypervisor_id}")
        host = session.execute(select(Host).where(Host.uuid == hypervisor_id.lower())).scalar_one_or_none()
    else:
        if not hypervisor_id.strip().isdigit():
            raise missing
        host = session.get(Host, int(hypervisor_id))
    if host is None:
        raise missing
    return host


@endpoint(summary="Show a hypervisor")
def show_hypervisor(req: ApiRequest) -> dict[str, Any]:
    version = microversion(req)
    params = check_query(req, {"with_servers": _BOOLEAN} if version.at_least(53) else {}, strict_since=53)
    with_servers = version.at_least(53) and str(params.get("with_servers", "false")).lower() in _TRUE
    enforce(req, "os_compute_api:os-hypervisors:show", {})
    with req.cloud.db.session() as session:
        host = _find(session, req, req.path["hypervisor_id"])
        servers = _servers_on(session, host) if with_servers else None
        return {"hypervisor": hypervisor_view(host, req, True, servers, with_servers)}


def local_uptime() -> str:
    """This machine's `uptime` line, the format nova's libvirt driver returns."""
    with open("/proc/uptime") as f:
        seconds = int(float(f.read().split()[0]))
    days, rest = divmod(seconds, 86400)
    hours, minutes = divmod(rest // 60, 60)
    span = f"{hours}:{minutes:02d}" if hours else f"{minutes} min"
    if days:
        span = f"{days} day{'s' if days != 1 else ''}, {span}"
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return f" {time.strftime('%H:%M:%S')} up {span},  0 users,  load average: {load}"


@endpoint(summary="Show a hypervisor's uptime")
def show_uptime(req: ApiRequest) -> dict[str, Any]:
    enforce(req, "os_compute_api:os-hypervisors:uptime", {})
    with req.cloud.db.session() as session:
        host = _find(session, req, req.path["hypervisor_id"])
    if host.hostname != controller_hostname() or not os.path.exists("/proc/uptime"):
        # Agents do not report uptime yet; nova answers 501 for drivers without it.
        raise ApiError("Virt driver does not implement host uptime function.", status=501)
    return {"hypervisor": {**hypervisor_view(host, req, False), "uptime": local_uptime()}}


@endpoint(summary="Search hypervisors by host name (before 2.53)")
def search_hypervisors(req: ApiRequest) -> dict[str, Any]:
    if microversion(req).at_least(53):
        raise NotFound("The resource could not be found.")
    enforce(req, "os_compute_api:os-hypervisors:search", {})
    with req.cloud.db.session() as session:
        found = _matching(session, req.path["pattern"])
        return {"hypervisors": [hypervisor_view(h, req, False) for h in found]}


@endpoint(summary="Hypervisors by host name, with their servers (before 2.53)")
def hypervisor_servers(req: ApiRequest) -> dict[str, Any]:
    if microversion(req).at_least(53):
        raise NotFound("The resource could not be found.")
    enforce(req, "os_compute_api:os-hypervisors:servers", {})
    with req.cloud.db.session() as session:
        found = _matching(session, req.path["pattern"])
        return {"hypervisors": [hypervisor_view(h, req, False, _servers_on(session, h)) for h in found]}


def statistics(session: Session) -> dict[str, int]:
    """Totals over the enabled hosts, as nova's compute_node_statistics sums them."""
    totals = dict.fromkeys(("count", "vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used",
                            "local_gb_used", "free_ram_mb", "free_disk_gb", "current_workload",
                            "running_vms", "disk_available_least"), 0)
    for host in session.execute(select(Host).where(Host.disabled.is_(False))).scalars():
        free_disk = host.disk_gb - disk_used(host)
        totals["count"] += 1
        totals["vcpus"] += host.vcpus
        totals["memory_mb"] += host.memory_mb
        totals["local_gb"] += host.disk_gb
        totals["vcpus_used"] += host.used_vcpus
        totals["memory_mb_used"] += memory_used(host)
        totals["local_gb_used"] += disk_used(host)
        totals["free_ram_mb"] += host.memory_mb - memory_used(host)
        totals["free_disk_gb"] += free_disk
        totals["running_vms"] += host.running_vms
        totals["disk_available_least"] += free_disk
    return totals


@endpoint(summary="Hypervisor statistics")
def show_statistics(req: ApiRequest) -> dict[str, Any]:
    enforce(req, "os_compute_api:os-hypervisors:statistics", {})
    with req.cloud.db.session() as session:
        return {"hypervisor_statistics": statistics(session)}


# -- os-aggregates (read-only): one per non-default availability zone ------------


def zone_aggregates(session: Session) -> list[dict[str, Any]]:
    zones: dict[str, list[Host]] = {}
    for host in session.execute(select(Host).order_by(Host.id)).scalars():
        if host.availability_zone and host.availability_zone != DEFAULT_ZONE:
            zones.setdefault(host.availability_zone, []).append(host)
    aggregates = []
    for index, (zone, members) in enumerate(sorted(zones.items()), start=1):
        created = min(h.created_at for h in members)
        aggregates.append({
            "id": index,
            "uuid": None,
            "name": zone,
            "availability_zone": zone,
            "hosts": [h.hostname for h in members],
            "metadata": {"availability_zone": zone},
            "created_at": strtime(created),
            "updated_at": None,
            "deleted_at": None,
            "deleted": False,
        })
    return aggregates


@endpoint(summary="List host aggregates (availability zones)")
def list_aggregates(req: ApiRequest) -> dict[str, Any]:
    enforce(req, "os_compute_api:os-aggregates:index", {})
    with req.cloud.db.session() as session:
        aggregates = zone_aggregates(session)
    if microversion(req).at_least(41):
        for aggregate in aggregates:
            aggregate["uuid"] = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"aggregate.{aggregate['name']}"))
    else:
        for aggregate in aggregates:
            aggregate.pop("uuid")
    return {"aggregates": aggregates}


def routes() -> list[BaseRoute]:
    base = "/v2.1/os-hypervisors"
    return [
        Route(base, list_hypervisors, methods=["GET"]),
        Route(base + "/detail", list_hypervisors_detail, methods=["GET"]),
        Route(base + "/statistics", show_statistics, methods=["GET"]),
        Route(base + "/{hypervisor_id}", show_hypervisor, methods=["GET"]),
        Route(base + "/{hypervisor_id}/uptime", show_uptime, methods=["GET"]),
        Route(base + "/{pattern}/search", search_hypervisors, methods=["GET"]),
        Route(base + "/{pattern}/servers", hypervisor_servers, methods=["GET"]),
        Route("/v2.1/os-aggregates", list_aggregates, methods=["GET"]),
    ]
