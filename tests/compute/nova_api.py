"""Talking to the compute API of a running cloud over HTTP, at a chosen microversion."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from gureum.testing import RunningCloud

_TOKENS: dict[tuple[int, str, str | None], str] = {}


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]

    def fault(self) -> dict[str, Any]:
        """Nova's error body: {"<name>": {"code": ..., "message": ...}}."""
        assert isinstance(self.body, dict) and len(self.body) == 1, self.body
        return next(iter(self.body.values()))


def token(cloud: RunningCloud, username: str = "admin", password: str | None = None,
          project: str | None = "admin") -> str:
    key = (cloud.port, username, project)
    if key not in _TOKENS:
        _TOKENS[key] = cloud.token(username, password, project)
    return _TOKENS[key]


def call(cloud: RunningCloud, method: str, path: str, body: Any = None, *, version: str = "2.1",
         auth: str | None = None, headers: dict[str, str] | None = None) -> Answer:
    """One request to {cloud}/compute/v2.1{path}; never raises on an HTTP error status."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{cloud.base_url}/compute/v2.1{path}", data=data, method=method)
    request.add_header("X-Auth-Token", auth or token(cloud))
    request.add_header("OpenStack-API-Version", f"compute {version}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, raw, got = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        status, raw, got = error.code, error.read(), dict(error.headers)
    parsed = json.loads(raw) if raw.strip() else None
    return Answer(status, parsed, got)


def project_id(cloud: RunningCloud, name: str) -> str:
    return cloud.openstack_json("project", "show", name)["id"]


def user_token(cloud: RunningCloud, env: dict[str, str]) -> str:
    return token(cloud, env["OS_USERNAME"], env["OS_PASSWORD"], env["OS_PROJECT_NAME"])


def agent_api_available(cloud: RunningCloud) -> bool:
    token_file = cloud.state_dir / "agent-token"
    if not token_file.exists():
        return False
    answer = _agent_post(cloud, "probe-host-that-is-not-there", None)
    return answer.status not in (404, 405)


def _agent_post(cloud: RunningCloud, hostname: str, report: dict[str, Any] | None) -> Answer:
    token_file = cloud.state_dir / "agent-token"
    data = json.dumps(report).encode() if report is not None else b"{}"
    request = urllib.request.Request(f"{cloud.base_url}/agent/v1/hosts/{hostname}/report", data=data,
                                     method="POST")
    request.add_header("Content-Type", "application/json")
    request.add_header("X-Gureum-Agent-Token", token_file.read_text().strip() if token_file.exists() else "")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw, status = response.read(), response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    return Answer(status, json.loads(raw) if raw.strip() else None, {})


def register_host(cloud: RunningCloud, hostname: str, *, vcpus: int = 6, memory_mb: int = 7683,
                  disk_gb: int = 61, zone: str = "nova", host_ip: str = "192.168.100.102") -> Answer:
    """Report a host through the agent protocol, as `gureum agent` does on start."""
    report = {
        "hostname": hostname,
        "capacity": {"vcpus": vcpus, "memory_mb": memory_mb, "disk_gb": disk_gb, "hypervisor_type": "QEMU",
                     "hypervisor_version": 8002000, "host_ip": host_ip, "availability_zone": zone,
                     "cpu_info": {"arch": "x86_64", "model": "qemu64", "vendor": "AMD",
                                  "topology": {"sockets": 1, "cores": vcpus, "threads": 1}, "features": []}},
        "instances": [],
        "applied_revision": 0,
        "agent_version": "test",
    }
    answer = _agent_post(cloud, hostname, report)
    assert answer.status < 300, f"agent report for {hostname} failed: {answer.status} {answer.body}"
    return answer
