"""`gureum up`: client config, restart on existing state, clean stop, PostgreSQL."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
from pathlib import Path

import yaml

from gureum.testing import VENV_BIN, RunningCloud, start_cloud


def test_up_writes_clouds_yaml_and_openrc(cloud: RunningCloud) -> None:
    clouds = yaml.safe_load((cloud.state_dir / "clouds.yaml").read_text())["clouds"]["gureum"]
    assert clouds["auth"]["auth_url"] == f"{cloud.base_url}/identity/v3"
    assert clouds["auth"]["password"] == cloud.admin_password
    openrc = (cloud.state_dir / "admin-openrc.sh").read_text()
    assert f"export OS_AUTH_URL={cloud.base_url}/identity/v3" in openrc
    for path in ("clouds.yaml", "admin-openrc.sh", "admin-password"):
        assert stat.S_IMODE((cloud.state_dir / path).stat().st_mode) == 0o600
    result = subprocess.run(
        ["bash", "-c", f"source {cloud.state_dir / 'admin-openrc.sh'} && {VENV_BIN / 'openstack'} token issue -f value -c id"],
        capture_output=True, text=True, env={k: v for k, v in os.environ.items() if not k.startswith("OS_")},
    )
    assert result.returncode == 0, result.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(cloud.state_dir / "clouds.yaml")
    result = subprocess.run([str(VENV_BIN / "openstack"), "--os-cloud", "gureum", "project", "list", "-f", "value"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0 and "admin" in result.stdout


def test_clouds_yaml_keeps_other_entries(tmp_path: Path) -> None:
    (tmp_path / "clouds.yaml").write_text(yaml.safe_dump({"clouds": {"other": {"auth": {"auth_url": "http://x"}}}}))
    cloud = start_cloud(tmp_path, "--cloud-name", "lab")
    try:
        clouds = yaml.safe_load((tmp_path / "clouds.yaml").read_text())["clouds"]
        assert set(clouds) == {"other", "lab"}
    finally:
        assert cloud.stop() == 0


def test_restart_keeps_state_and_sigterm_stops_cleanly(tmp_path: Path) -> None:
    first = start_cloud(tmp_path)
    first.openstack("project", "create", "survivor")
    password = first.admin_password
    assert first.stop() == 0
    second = start_cloud(tmp_path)
    try:
        assert second.admin_password == password
        names = second.openstack("project", "list", "-f", "value", "-c", "Name").stdout.split()
        assert "survivor" in names
        # Still exactly one catalog entry per interface after a second bootstrap.
        rows = second.openstack_json("endpoint", "list", "--service", "identity")
        assert len(rows) == 3
    finally:
        second.process.send_signal(signal.SIGINT)
        assert second.process.wait(timeout=15) == 0


def test_up_help_lists_options_with_defaults() -> None:
    out = subprocess.run([str(VENV_BIN / "gureum"), "up", "--help"], capture_output=True, text=True).stdout
    for option in ("--state-dir", "--listen", "--database-url", "--cloud-name", "--clouds-yaml", "--public-url"):
        assert option in out
    assert "127.0.0.1:8770" in out


def test_postgresql_backend(pg_cloud: RunningCloud) -> None:
    pg_cloud.openstack("project", "create", "on-postgres")
    pg_cloud.openstack("user", "create", "--password", "pw-pg-1234", "--project", "on-postgres", "pguser")
    pg_cloud.openstack("role", "add", "--project", "on-postgres", "--user", "pguser", "member")
    env = pg_cloud.env_for("pguser", "pw-pg-1234", "on-postgres")
    assert pg_cloud.openstack_json("token", "issue", env=env)["id"]
    rows = pg_cloud.openstack_json("role", "assignment", "list", "--names", "--project", "on-postgres")
    assert rows[0]["User"] == "pguser@Default"
