"""`gureum status` (text and --json) against a running cloud, and `gureum down` stopping it."""

from __future__ import annotations

import json
from pathlib import Path

from gureum.testing import remove_state, start_cloud, wait_for
from tests.cli.helpers import gureum, status_json
from tests.conftest import short_state_dir


def test_status_then_down() -> None:
    state = short_state_dir("gcs-")
    cloud = start_cloud(state, "--no-guest-image")
    try:
        wait_for(lambda: status_json(state)["hosts"], 90, 2, "the agent's compute host in status")
        cloud.openstack("network", "create", "status-net")
        report = status_json(state)
        assert report["running"] is True and report["url"] == cloud.base_url and report["command"] == "up"
        assert report["pid"] == cloud.process.pid
        [host] = report["hosts"]
        assert host["state"] == "up" and host["accelerator"] in ("kvm", "tcg") and host["last_heartbeat"]
        assert any(agent.startswith("DHCP agent") for agent in host["agents"])
        assert host["free_vcpus"] > 0 and host["free_ram_mb"] > 0
        assert [n["name"] for n in report["networks"]] == ["status-net"]
        assert report["guests_by_state"] == {}
        assert report["free"]["hosts"] == 1

        text = gureum("status", "--state-dir", str(state))
        assert text.returncode == 0, text.stderr
        assert f"controller: up at {cloud.base_url}" in text.stdout
        assert host["hostname"] in text.stdout and host["accelerator"].upper() in text.stdout
        assert "s ago" in text.stdout and "status-net" in text.stdout and "guests: 0" in text.stdout
        assert len(text.stdout.splitlines()) < 25  # one screen

        down = gureum("down", "--state-dir", str(state))
        assert down.returncode == 0, down.stderr
        assert f"stopped gureum up (pid {cloud.process.pid})" in down.stdout
        assert cloud.process.wait(timeout=10) == 0

        stopped = gureum("status", "--state-dir", str(state))
        assert stopped.returncode == 1
        assert f"gureum is not running for the state dir {state}" in stopped.stdout
        assert json.loads(gureum("status", "--json", "--state-dir", str(state)).stdout)["running"] is False
        again = gureum("down", "--state-dir", str(state))
        assert again.returncode == 0 and "nothing to stop" in again.stdout
    finally:
        cloud.stop()
        remove_state(state)


def test_status_of_a_state_dir_nothing_ever_ran_in(tmp_path: Path) -> None:
    result = gureum("status", "--state-dir", str(tmp_path))
    assert result.returncode == 1
    assert "gureum is not running" in result.stdout
