"""`gureum up` options each do what their help says, alone; the banner lists what is served;
agents' routine polls stay out of the INFO log."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from gureum.app import build_app
from gureum.banner import served_services
from gureum.purge import own_processes
from gureum.testing import RunningCloud, remove_state, start_cloud, wait_for
from tests.conftest import short_state_dir


@pytest.fixture(scope="module")
def no_clouds_yaml_cloud() -> Iterator[RunningCloud]:
    state = short_state_dir("gcl-")
    running = start_cloud(state, "--no-clouds-yaml")
    yield running
    running.stop()
    remove_state(state)


def test_no_clouds_yaml_still_runs_the_agent_and_registers_the_image(no_clouds_yaml_cloud: RunningCloud) -> None:
    cloud = no_clouds_yaml_cloud
    hosts = wait_for(lambda: [h for h in cloud.openstack_json("hypervisor", "list") if h["State"] == "up"],
                     90, 2, "this host's agent to register a compute host")
    assert len(hosts) == 1
    assert [p.role for p in own_processes(cloud.state_dir) if p.role == "agent"] == ["agent"]
    image = wait_for(lambda: cloud.openstack_json("image", "list", "--name", "gureum-guest", "--status", "active"),
                     90, 2, "the gureum-guest image")
    assert image
    # Only the one thing it says: no clouds.yaml (start_cloud points --clouds-yaml into the state dir).
    assert not (cloud.state_dir / "clouds.yaml").exists()
    assert (cloud.state_dir / "admin-openrc.sh").exists()
    assert "clouds:" not in cloud.log()


def test_banner_lists_every_mounted_service(no_clouds_yaml_cloud: RunningCloud) -> None:
    cloud = no_clouds_yaml_cloud
    banner = cloud.log().split(" is up at ", 1)[1].split("  state:", 1)[0]
    listed = dict(re.findall(r"^  ([\w-]+): +(\S+)", banner, re.MULTILINE))

    class NoCloud:  # build_app only keeps the cloud for requests; its routes are what is served
        pass

    served = dict(served_services(build_app(NoCloud()), cloud.base_url))  # type: ignore[arg-type]
    assert listed == served
    assert {"identity", "image", "compute", "network", "object-store", "block-storage", "s3",
            "dashboard"} <= set(listed)
    assert "agent" not in listed
    assert f"{cloud.base_url}/compute/v2.1" == listed["compute"]
    assert "log in as admin with" in banner


def test_agent_polls_and_reports_are_not_logged_at_info(no_clouds_yaml_cloud: RunningCloud) -> None:
    cloud = no_clouds_yaml_cloud
    wait_for(lambda: cloud.openstack_json("hypervisor", "list"), 90, 2, "a compute host")
    time.sleep(11)  # one more heartbeat and long poll
    cloud.openstack("network", "list")
    log = cloud.log()
    assert re.search(r"INFO gureum\.access: \S+ GET /network/v2\.0/networks", log)
    routine = re.findall(r"gureum\.access: \S+ \w+ /agent/v1/hosts/[^/]+/(?:desired|report|consoles)", log)
    assert routine == []


def test_no_agent_and_no_guest_image_skip_only_those() -> None:
    state = short_state_dir("gcn-")
    cloud = start_cloud(state, "--no-agent", "--no-guest-image")
    try:
        assert (state / "clouds.yaml").exists()
        time.sleep(3)  # the cached guest image registers within a second when it is wanted
        assert [p for p in own_processes(state) if p.role == "agent"] == []
        assert cloud.openstack_json("hypervisor", "list") == []
        assert cloud.openstack_json("image", "list") == []
        assert "gureum-guest" not in cloud.log()
    finally:
        assert cloud.stop() == 0
        remove_state(state)
