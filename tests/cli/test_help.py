"""`gureum up --help` (and the other commands' help): each default said once, and the real one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gureum.config import DEFAULT_PORT, Settings, default_state_dir
from gureum.running import DEFAULT_NAME_PREFIX
from gureum.testing import VENV_BIN


def help_of(*command: str) -> dict[str, str]:
    """Each option's help text, unwrapped, from the real command's output."""
    env = {**os.environ, "COLUMNS": "300"}  # argparse wraps at $COLUMNS: one line per option
    out = subprocess.run([str(VENV_BIN / "gureum"), *command, "--help"], capture_output=True, text=True,
                         env=env, check=True).stdout
    options: dict[str, str] = {}
    current = ""
    for line in out.splitlines():
        match = re.match(r"  (-[-\w]+)", line)
        if match:
            current = match.group(1)
            options[current] = line
        elif current and line.startswith("    "):
            options[current] += " " + line.strip()
    return options


@pytest.mark.parametrize("command", ["up", "serve", "agent", "down", "status", "rotate-keys"])
def test_each_default_once_and_never_none(command: str) -> None:
    for option, text in help_of(command).items():
        assert text.count("(default:") <= 1, f"{command} {option}: {text}"
        assert "(default: None)" not in text and "(default: )" not in text, f"{command} {option}: {text}"


def test_up_help_says_the_real_defaults() -> None:
    options = help_of("up")
    settings = Settings()
    expected = {
        "--state-dir": str(default_state_dir()),
        "--listen": f"{settings.listen_host}:{DEFAULT_PORT}",
        "--region": settings.region,
        "--log-level": settings.log_level,
        "--cloud-name": settings.cloud_name,
        "--clouds-yaml": str(settings.effective_clouds_yaml),
        "--agent-name-prefix": DEFAULT_NAME_PREFIX,
        "--bridge-mapping": "provider:br-provider",
    }
    for option, default in expected.items():
        assert f"(default: {default})" in options[option], options[option]
    # Each switch says what it alone skips.
    assert "do not write clouds.yaml" in options["--no-clouds-yaml"]
    assert "agent" not in options["--no-clouds-yaml"] and "image" not in options["--no-clouds-yaml"]
    assert "compute agent" in options["--no-agent"]
    assert "gureum-guest image" in options["--no-guest-image"]


def test_down_help_names_purge_options() -> None:
    options = help_of("down")
    assert {"--state-dir", "--purge", "--yes", "--remove-state-dir"} <= set(options)
    assert "the state dir stays" in options["--purge"]


def test_the_banner_names_the_client_so_a_fresh_shell_finds_it(monkeypatch) -> None:  # noqa: ANN001
    from gureum.cli import openstack_command  # noqa: PLC0415

    monkeypatch.setenv("PATH", "/nonexistent")
    assert openstack_command() == str(Path(sys.executable).parent / "openstack")  # ./scripts/up's .venv
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    assert openstack_command() == "openstack"
