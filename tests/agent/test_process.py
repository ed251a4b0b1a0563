"""A pidfile names the guest's QEMU only while that very process is alive."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gureum.agent.hypervisor import HypervisorError, QemuHypervisor
from gureum.agent.hypervisor.accel import Accel
from gureum.agent.hypervisor.process import guest_process, wait_for_exit


def test_pid_of_an_unrelated_process_is_not_a_guest(tmp_path: Path) -> None:
    pidfile = tmp_path / "qemu.pid"
    # As after a host reboot: the stale pid now belongs to someone else.
    with subprocess.Popen(["sleep", "30"]) as other:
        pidfile.write_text(f"{other.pid}\n")
        assert guest_process(pidfile) is None
        other.kill()


def test_live_process_naming_the_pidfile_is_the_guest(tmp_path: Path) -> None:
    pidfile = tmp_path / "qemu.pid"
    script = "import sys, time; open(sys.argv[2], 'w').write(str(__import__('os').getpid())); time.sleep(30)"
    with subprocess.Popen([sys.executable, "-c", script, "-pidfile", str(pidfile)]) as stand_in:
        while not pidfile.exists() or not pidfile.read_text():
            pass
        assert guest_process(pidfile) == stand_in.pid
        stand_in.kill()
        stand_in.wait()
        assert wait_for_exit(stand_in.pid, pidfile, timeout_seconds=5)
        assert guest_process(pidfile) is None


def test_missing_or_garbage_pidfile_means_no_guest(tmp_path: Path) -> None:
    assert guest_process(tmp_path / "absent.pid") is None
    (tmp_path / "garbage.pid").write_text("not a pid")
    assert guest_process(tmp_path / "garbage.pid") is None


def test_instances_dir_is_private_to_the_agent(tmp_path: Path) -> None:
    loose = tmp_path / "instances"
    loose.mkdir(mode=0o777)
    os.chmod(loose, 0o777)
    QemuHypervisor(loose, accel=Accel.TCG)
    assert stat.S_IMODE(loose.stat().st_mode) == 0o700

    fresh = tmp_path / "deeper" / "instances"
    QemuHypervisor(fresh, accel=Accel.TCG)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700 and fresh.stat().st_uid == os.geteuid()


def test_instances_dir_owned_by_someone_else_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a directory away")
    foreign = tmp_path / "instances"
    foreign.mkdir()
    os.chown(foreign, 65534, 65534)
    with pytest.raises(HypervisorError, match="belongs to uid 65534"):
        QemuHypervisor(foreign, accel=Accel.TCG)
