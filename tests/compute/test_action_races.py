"""Server actions race each other on a real cloud, on SQLite and on PostgreSQL.

The host is simulated (reports through the agent API, no guests behind it): what
is under test is the controller's guards, which must hold whatever the agents do.
Two requests at once on one server never both win; the loser answers Nova's 409.
"""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gureum.agent.protocol import AGENT_TOKEN_HEADER
from gureum.testing import RunningCloud, cloud_in_fresh_state, wait_for
from tests.conftest import unique

HOST = "race-host"


@pytest.fixture(scope="module")
def sqlite_cloud() -> Iterator[RunningCloud]:
    with cloud_in_fresh_state("gcr-", "--no-agent", "--no-guest-image") as cloud:
        yield cloud


@pytest.fixture(params=["sqlite", "postgresql"])
def any_cloud(request: pytest.FixtureRequest) -> RunningCloud:
    return request.getfixturevalue("sqlite_cloud" if request.param == "sqlite" else "pg_cloud")


def report(cloud: RunningCloud, instances: list[dict[str, Any]]) -> None:
    """The simulated host's heartbeat, with the guests it says it runs."""
    token = (cloud.state_dir / "agent-token").read_text().strip()
    body = {"hostname": HOST, "instances": instances,
            "capacity": {"vcpus": 64, "memory_mb": 65536, "disk_gb": 1000, "hypervisor_type": "QEMU"}}
    request = urllib.request.Request(f"{cloud.base_url}/agent/v1/hosts/{HOST}/report",
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


def at_once(*calls: Callable[[], tuple[int, dict]]) -> list[tuple[int, dict]]:
    """Run the calls in threads released together."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    return results


@pytest.fixture
def setup(any_cloud: RunningCloud, tmp_path: Path) -> dict[str, str]:
    cloud = any_cloud
    report(cloud, [])
    images = cloud.openstack_json("image", "list", "--name", "race-tiny")
    if images:
        image_id = images[0]["ID"]
    else:
        disk = tmp_path / "tiny.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
        image_id = cloud.openstack_json("image", "create", "--file", str(disk), "--disk-format", "qcow2",
                                        "--container-format", "bare", "race-tiny")["id"]
    return {"image": image_id, "token": cloud.token()}


def active_server(cloud: RunningCloud, setup: dict[str, str], flavor: str = "t2.nano") -> str:
    """A server the simulated host runs: placed by the scheduler, ACTIVE from the host's report."""
    status, body = api(cloud, setup["token"], "POST", "/servers", {"server": {
        "name": unique("race"), "flavorRef": flavor_id(cloud, setup, flavor), "imageRef": setup["image"],
        "networks": "none"}})
    assert status == 202, body
    server_id = body["server"]["id"]

    def active() -> bool:
        report(cloud, [{"uuid": server_id, "power_state": 1}])
        return api(cloud, setup["token"], "GET", f"/servers/{server_id}")[1]["server"]["status"] == "ACTIVE"

    wait_for(active, 120, 0.2, "the server ACTIVE")  # reports are slow on a loaded machine
    return server_id


def flavor_id(cloud: RunningCloud, setup: dict[str, str], name: str) -> str:
    _, body = api(cloud, setup["token"], "GET", "/flavors")
    return next(f["id"] for f in body["flavors"] if f["name"] == name)


def test_two_stops_at_once_one_wins_one_409(any_cloud: RunningCloud, setup: dict[str, str]) -> None:
    cloud, token = any_cloud, setup["token"]
    for _ in range(3):
        server_id = active_server(cloud, setup)
        stop = lambda: api(cloud, token, "POST", f"/servers/{server_id}/action", {"os-stop": None})  # noqa: E731
        results = at_once(stop, stop)
        assert sorted(status for status, _ in results) == [202, 409], results
        conflict = next(body for status, body in results if status == 409)
        assert conflict["conflictingRequest"]["message"] == (
            f"Cannot 'stop' instance {server_id} while it is in task_state powering-off")
        _, shown = api(cloud, token, "GET", f"/servers/{server_id}")
        assert shown["server"]["OS-EXT-STS:task_state"] == "powering-off"
        _, listed = api(cloud, token, "GET", f"/servers/{server_id}/os-instance-actions")
        assert [a["action"] for a in listed["instanceActions"]].count("stop") == 1
        api(cloud, token, "DELETE", f"/servers/{server_id}")


def test_resize_and_delete_at_once_leave_one_outcome(any_cloud: RunningCloud, setup: dict[str, str]) -> None:
    cloud, token = any_cloud, setup["token"]
    micro = flavor_id(cloud, setup, "t2.micro")
    for _ in range(3):
        server_id = active_server(cloud, setup)
        resize = lambda: api(cloud, token, "POST", f"/servers/{server_id}/action",  # noqa: E731
                             {"resize": {"flavorRef": micro}})
        delete = lambda: api(cloud, token, "DELETE", f"/servers/{server_id}")  # noqa: E731
        (resized, _), (deleted, _) = at_once(resize, delete)
        # The delete always wins in the end; the resize either went first (202) or found it gone.
        assert deleted == 204 and resized in (202, 404, 409), (resized, deleted)
        assert api(cloud, token, "GET", f"/servers/{server_id}")[0] == 404
        # The host confirms the guest is gone: its claim goes with it, whatever size it had.
        report(cloud, [])
        _, hypervisors = api(cloud, token, "GET", "/os-hypervisors/detail")
        host = next(h for h in hypervisors["hypervisors"] if h["hypervisor_hostname"] == HOST)
        assert host["memory_mb_used"] == 512 and host["running_vms"] == 0, host  # the host's reserve only
