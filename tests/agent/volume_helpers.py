"""Talking to a test guest about its disks over the serial console (volume tests)."""

from __future__ import annotations

import itertools
import re
import socket
import time

from agent_helpers import wait_for_console

from gureum.agent.hypervisor import QemuHypervisor

_steps = itertools.count(1)


def in_guest(hv: QemuHypervisor, instance_id: str, command: str, answer: str, timeout: float = 180) -> str:
    """Run `command` in the guest's console shell; it must set R to `answer` (a regex); returns R.
    The marker is arithmetic so the echoed command line itself never matches. Lines stay short:
    the console took 127 characters of a longer one."""
    step = next(_steps) * 1000 + 7
    line = f"{command};echo s$(({step}))-$R\n".encode()
    assert len(line) < 120, line
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as console:
        console.connect(str(hv.instances_dir / instance_id / "console.sock"))
        for start in range(0, len(line), 16):  # typed, not pasted: the UART takes 16 bytes at a time
            console.sendall(line[start:start + 16])
            time.sleep(0.05)
        match = wait_for_console(hv, instance_id, re.compile(rf"s{step}-({answer})\r?\n"),
                                 timeout_seconds=timeout)
    return match.group(1)


def shell_ready(hv: QemuHypervisor, instance_id: str) -> None:
    """Let the console shell settle (its first prompt asks the terminal for the cursor), and
    define `f SERIAL`: R = the /dev/vdX whose virtio serial that is."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as console:
        console.connect(str(hv.instances_dir / instance_id / "console.sock"))
        console.sendall(b"\n")
        time.sleep(2)
    # Kernel messages on the console while we typed froze it here: keep them in dmesg.
    in_guest(hv, instance_id, "dmesg -n 1;R=up", "up")
    in_guest(hv, instance_id,
             'f(){ R=;for b in /sys/block/vd*;do [ "$(cat $b/serial)" = "$1" ]&&R=/dev/${b##*/};done;}',
             "up")  # defining f leaves R as it was


def find_disk(serial: str) -> str:
    return f'for i in $(seq 300);do f {serial[:20]};[ -n "$R" ]&&break;sleep .2;done'


WRITE = "printf {}|dd of=$D bs=512 conv=sync,fsync 2>/dev/null;R=ok"
READ = "R=$(dd if=$D bs=512 count=1 2>/dev/null|tr -d '\\000')"
