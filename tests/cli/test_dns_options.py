"""Where guests' DNS queries go: the up and agent options reach the agent, bad ones are refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gureum.cli import AgentSupervisor
from gureum.config import Settings
from gureum.testing import VENV_BIN


def agent_command(tmp_path: Path, upstreams: list[str] | None) -> list[str]:
    return AgentSupervisor(Settings(state_dir=tmp_path, guest_dns_upstreams=upstreams)).command()


def test_up_hands_its_upstreams_to_the_agent_and_none_means_resolv_conf(tmp_path: Path) -> None:
    assert not any("dns-upstream" in word for word in agent_command(tmp_path, None))
    assert "--no-dns-upstream" in agent_command(tmp_path, [])
    command = agent_command(tmp_path, ["192.0.2.53", "[2001:db8::53]:5353"])
    assert [w for w in command if "dns-upstream" in w] == ["--dns-upstream=192.0.2.53",
                                                           "--dns-upstream=[2001:db8::53]:5353"]


def test_a_bad_upstream_is_refused_by_name_before_anything_starts(tmp_path: Path) -> None:
    for command in (["agent", "--controller", "http://127.0.0.1:9", "--token", "t", "--state-dir", str(tmp_path),
                     "--dns-upstream", "resolver.example"],
                    ["up", "--state-dir", str(tmp_path / "up"), "--listen", "127.0.0.1:9",
                     "--guest-dns-upstream", "192.0.2.1:notaport"]):
        result = subprocess.run([str(VENV_BIN / "gureum"), *command], capture_output=True, text=True, timeout=60)
        assert result.returncode == 2, result.stderr
        assert "dns-upstream" in result.stderr and "ADDRESS:PORT" in result.stderr, result.stderr
