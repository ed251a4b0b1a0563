"""The scheduler's claims are atomic: concurrent creates never overcommit a host.

The host here is simulated (a report through the agent API with a chosen
capacity, and no guests behind it): what is under test is the controller's
placement, which must hold whatever the agents do.
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gureum.agent.protocol import AGENT_TOKEN_HEADER
from gureum.testing import RunningCloud, cloud_in_fresh_state

FLAVOR_RAM = 100
FITS = 20


@pytest.fixture(scope="module")
def bare_cloud() -> Iterator[RunningCloud]:
    with cloud_in_fresh_state("gcl-", "--no-agent", "--no-guest-image") as cloud:
        yield cloud


def report_host(cloud: RunningCloud, hostname: str, memory_mb: int) -> None:
    token = (cloud.state_dir / "agent-token").read_text().strip()
    body = {"hostname": hostname, "instances": [], "capacity": {
        "vcpus": 80, "memory_mb": memory_mb, "disk_gb": 1000, "hypervisor_type": "QEMU"}}
    request = urllib.request.Request(f"{cloud.base_url}/agent/v1/hosts/{hostname}/report",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", AGENT_TOKEN_HEADER: token})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def api(cloud: RunningCloud, token: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(f"{cloud.base_url}/compute/v2.1{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"X-Auth-Token": token, "Content-Type": "application/json",
                                              "OpenStack-API-Version": "compute 2.79"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_thirty_creates_on_room_for_twenty(bare_cloud: RunningCloud, tmp_path: Path) -> None:
    cloud = bare_cloud
    # 512 MB is the host's reserve; room for exactly twenty guests of FLAVOR_RAM beyond it.
    report_host(cloud, "sim-1", 512 + FITS * FLAVOR_RAM)
    disk = tmp_path / "tiny.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    image = cloud.openstack_json("image", "create", "--file", str(disk), "--disk-format", "qcow2",
                                 "--container-format", "bare", "tiny")
    flavor = cloud.openstack_json("flavor", "create", "--vcpus", "1", "--ram", str(FLAVOR_RAM), "--disk", "1",
                                  "c.tiny")
    cloud.openstack("quota", "set", "--instances", "100", "--cores", "100", "--ram", "100000", "admin")
    token = cloud.token()

    def create(i: int) -> int:
        status, _ = api(cloud, token, "POST", "/servers", {"server": {
            "name": f"claim-{i}", "flavorRef": flavor["id"], "imageRef": image["id"], "networks": "none"}})
        return status

    report_host(cloud, "sim-1", 512 + FITS * FLAVOR_RAM)  # a fresh heartbeat: the steps above may be slow
    with ThreadPoolExecutor(max_workers=30) as pool:
        statuses = list(pool.map(create, range(30)))
    assert statuses == [202] * 30
    _, listing = api(cloud, token, "GET", "/servers/detail")
    servers = listing["servers"]
    placed = [s for s in servers if s["status"] == "BUILD"]
    failed = [s for s in servers if s["status"] == "ERROR"]
    assert (len(placed), len(failed)) == (FITS, 30 - FITS)
    for server in failed:
        assert f"c.tiny needs {FLAVOR_RAM} MB of RAM; the most free on any host is" in server["fault"]["message"]
    _, hypervisors = api(cloud, token, "GET", "/os-hypervisors/detail")
    host = hypervisors["hypervisors"][0]
    assert host["memory_mb_used"] <= host["memory_mb"]
    for server in servers:
        api(cloud, token, "DELETE", f"/servers/{server['id']}")
