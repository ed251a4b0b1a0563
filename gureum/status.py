"""`gureum status`: what runs where, read through the APIs as the state dir's admin.

Through the APIs (not the database) so policy holds and the answer is the one
`openstack` would give: the controller from up.json (is its process alive, at
which URL), compute hosts from os-hypervisors and os-services, their agents
from Neutron's agent list, guests from the server list, networks, and the room
left on the hosts that are up.
"""

from __future__ import annotations

import json
import shlex
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gureum.running import RunRecord, read_record, is_running

OPENRC_FILE = "admin-openrc.sh"
_TIMEOUT_SECONDS = 15.0
# cpu_info as an object (not a JSON string) from 2.28; the agent reports its accelerator as the CPU model.
_COMPUTE_VERSION = "2.28"
_MAX_NETWORKS_SHOWN = 15


class StatusError(RuntimeError):
    """The controller is not running or does not answer: said in plain words."""


@dataclass(frozen=True)
class HostStatus:
    hostname: str
    state: str  # up / down, as the compute API says
    status: str  # enabled / disabled
    accelerator: str  # kvm / tcg / "" (not reported)
    last_heartbeat: str  # ISO 8601 UTC, "" if never
    guests: int
    free_vcpus: int
    free_ram_mb: int
    free_disk_gb: int
    agents: list[str] = field(default_factory=list)  # e.g. "DHCP agent (alive)"


@dataclass(frozen=True)
class NetworkStatus:
    name: str
    id: str
    network_type: str
    subnets: int
    external: bool
    shared: bool
    status: str


@dataclass(frozen=True)
class Status:
    running: bool
    state_dir: str
    url: str
    command: str = ""
    pid: int = 0
    hosts: list[HostStatus] = field(default_factory=list)
    guests_by_state: dict[str, int] = field(default_factory=dict)
    networks: list[NetworkStatus] = field(default_factory=list)
    free: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


# -- reading the APIs -------------------------------------------------------------------


def read_openrc(path: Path) -> dict[str, str]:
    """The OS_* values of an openrc file `gureum up` wrote (export KEY=quoted-value lines)."""
    values = {}
    for line in path.read_text().splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            key, _, value = words[1].partition("=")
            values[key] = value
    return values


class Api:
    """A token and the catalog's public endpoints; GETs as JSON."""

    def __init__(self, openrc: dict[str, str]) -> None:
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": openrc["OS_USERNAME"], "domain": {"name": openrc.get("OS_USER_DOMAIN_NAME", "Default")},
            "password": openrc["OS_PASSWORD"]}}},
            "scope": {"project": {"name": openrc["OS_PROJECT_NAME"],
                                  "domain": {"name": openrc.get("OS_PROJECT_DOMAIN_NAME", "Default")}}}}}
        request = urllib.request.Request(openrc["OS_AUTH_URL"].rstrip("/") + "/auth/tokens",
                                         data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:  # noqa: S310 - our controller
            self.token = response.headers["X-Subject-Token"]
            catalog = json.load(response)["token"].get("catalog", [])
        region = openrc.get("OS_REGION_NAME")
        self.endpoints = {
            service["type"]: endpoint["url"].rstrip("/")
            for service in catalog for endpoint in service["endpoints"]
            if endpoint["interface"] == openrc.get("OS_INTERFACE", "public")
            and (not region or endpoint.get("region_id", region) == region)
        }

    def get(self, service: str, path: str, headers: dict[str, str] | None = None) -> Any:
        if service not in self.endpoints:
            raise StatusError(f"the catalog has no {service} endpoint")
        url = path if path.startswith("http") else self.endpoints[service] + path
        request = urllib.request.Request(url, headers={"X-Auth-Token": self.token, **(headers or {})})
        with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:  # noqa: S310
            return json.load(response)

    def pages(self, service: str, path: str, key: str) -> list[dict[str, Any]]:
        """Every item of a paged list, following the `next` links."""
        items: list[dict[str, Any]] = []
        next_path: str | None = path
        while next_path:
            body = self.get(service, next_path)
            items += body.get(key, [])
            links = body.get(f"{key}_links", [])
            next_path = next((link["href"] for link in links if link.get("rel") == "next"), None)
        return items


def _accelerator(hypervisor: dict[str, Any]) -> str:
    cpu_info = hypervisor.get("cpu_info")
    model = cpu_info.get("model", "") if isinstance(cpu_info, dict) else ""
    return model if model in ("kvm", "tcg") else ""


def _hosts(api: Api) -> list[HostStatus]:
    compute_version = {"OpenStack-API-Version": f"compute {_COMPUTE_VERSION}"}
    hypervisors = api.get("compute", "/os-hypervisors/detail", compute_version)["hypervisors"]
    heartbeats = {s["host"]: s.get("updated_at") or "" for s in api.get("compute", "/os-services")["services"]
                  if s.get("binary") == "nova-compute"}
    agents: dict[str, list[str]] = {}
    for agent in api.get("network", "/v2.0/agents")["agents"]:
        agents.setdefault(agent["host"], []).append(
            f"{agent['agent_type']} ({'alive' if agent.get('alive') else 'dead'})")
    return [HostStatus(
        hostname=h["hypervisor_hostname"], state=h["state"], status=h["status"], accelerator=_accelerator(h),
        last_heartbeat=heartbeats.get(h["hypervisor_hostname"], ""), guests=int(h.get("running_vms", 0)),
        free_vcpus=int(h.get("vcpus", 0)) - int(h.get("vcpus_used", 0)), free_ram_mb=int(h.get("free_ram_mb", 0)),
        free_disk_gb=int(h.get("free_disk_gb", 0)), agents=sorted(agents.get(h["hypervisor_hostname"], [])),
    ) for h in hypervisors]


def _guests_by_state(api: Api) -> dict[str, int]:
    counts: dict[str, int] = {}
    for server in api.pages("compute", "/servers/detail?all_tenants=1", "servers"):
        counts[server["status"]] = counts.get(server["status"], 0) + 1
    return dict(sorted(counts.items()))


def _networks(api: Api) -> list[NetworkStatus]:
    return [NetworkStatus(
        name=n.get("name", ""), id=n["id"], network_type=n.get("provider:network_type") or "",
        subnets=len(n.get("subnets", [])), external=bool(n.get("router:external")), shared=bool(n.get("shared")),
        status=n.get("status", ""),
    ) for n in api.get("network", "/v2.0/networks")["networks"]]


def _free(hosts: list[HostStatus]) -> dict[str, int]:
    """What the hosts that take guests (up and enabled) have left, summed."""
    usable = [h for h in hosts if h.state == "up" and h.status == "enabled"]
    return {"hosts": len(usable), "vcpus": sum(h.free_vcpus for h in usable),
            "ram_mb": sum(h.free_ram_mb for h in usable), "disk_gb": sum(h.free_disk_gb for h in usable)}


def gather(state_dir: Path) -> Status:
    """The status of the state dir's cloud; running=False (and nothing else) if its controller is not running."""
    record: RunRecord | None = read_record(state_dir)
    if record is None or not is_running(record):
        return Status(running=False, state_dir=str(state_dir), url=record.url if record else "")
    try:
        api = Api(read_openrc(state_dir / OPENRC_FILE))
        hosts = _hosts(api)
        return Status(running=True, state_dir=str(state_dir), url=record.url, command=record.command,
                      pid=record.pid, hosts=hosts, guests_by_state=_guests_by_state(api), networks=_networks(api),
                      free=_free(hosts))
    except FileNotFoundError as error:
        raise StatusError(f"no admin credentials: {error.filename} is missing") from error
    except urllib.error.HTTPError as error:
        raise StatusError(f"the controller at {record.url} refused {error.url}: {error.code} {error.reason}") \
            from error
    except (urllib.error.URLError, OSError) as error:
        raise StatusError(f"gureum {record.command} (pid {record.pid}) runs but does not answer at {record.url}: "
                          f"{getattr(error, 'reason', error)}") from error


# -- for a person -----------------------------------------------------------------------


def _ago(timestamp: str, now: datetime) -> str:
    if not timestamp:
        return "never"
    try:
        seen = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return timestamp
    if seen.tzinfo is None:
        seen = seen.replace(tzinfo=timezone.utc)
    seconds = max(0, int((now - seen).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    return ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
            for row in [header, *rows]]


def render(status: Status, now: datetime | None = None) -> str:
    if not status.running:
        last = f" (it last listened at {status.url})" if status.url else ""
        return f"gureum is not running for the state dir {status.state_dir}{last}.\n"
    now = now or datetime.now(timezone.utc)
    lines = [f"controller: up at {status.url} (gureum {status.command}, pid {status.pid}, "
             f"state dir {status.state_dir})", ""]
    lines.append(f"compute hosts: {len(status.hosts) or 'none registered'}")
    if status.hosts:
        lines += _table(["HOST", "STATE", "ACCEL", "LAST HEARTBEAT", "GUESTS", "FREE VCPUS", "FREE RAM", "FREE DISK"],
                        [[h.hostname, h.state if h.status == "enabled" else f"{h.state}, disabled",
                          h.accelerator.upper() or "?", _ago(h.last_heartbeat, now), str(h.guests),
                          str(h.free_vcpus), f"{h.free_ram_mb} MB", f"{h.free_disk_gb} GB"] for h in status.hosts])
        for host in status.hosts:
            lines.append(f"  {host.hostname} agents: {', '.join(host.agents) or 'none'}")
    guests = sum(status.guests_by_state.values())
    by_state = ", ".join(f"{count} {state}" for state, count in status.guests_by_state.items())
    lines += ["", f"guests: {guests}" + (f" ({by_state})" if guests else "")]
    lines += ["", f"networks: {len(status.networks)}"]
    if status.networks:
        shown = status.networks[:_MAX_NETWORKS_SHOWN]
        lines += _table(["NAME", "TYPE", "SUBNETS", "STATUS", "ID"],
                        [[n.name or "-", n.network_type + (", external" if n.external else "")
                          + (", shared" if n.shared else ""), str(n.subnets), n.status, n.id] for n in shown])
        if len(status.networks) > len(shown):
            lines.append(f"  ... and {len(status.networks) - len(shown)} more (openstack network list)")
    free = status.free
    lines += ["", f"free on {free['hosts']} usable host(s): {free['vcpus']} vCPUs, {free['ram_mb']} MB RAM, "
                  f"{free['disk_gb']} GB disk"]
    return "\n".join(lines) + "\n"
