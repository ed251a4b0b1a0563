"""An agent asked to stop is gone within its grace even when its pass is stuck."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

# A process that stops as `gureum agent` does, whose "pass" never ends.
STUCK = """
import signal, threading
from gureum.cli import stop_within
signal.signal(signal.SIGTERM, lambda *_: stop_within(lambda: None, 1.0))
print("ready", flush=True)
threading.Event().wait()
"""


def test_a_stuck_agent_exits_after_the_grace_and_shows_where_it_was() -> None:
    with subprocess.Popen([sys.executable, "-c", STUCK], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as process:
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        took = time.monotonic() - started
    assert process.returncode == 1
    assert 0.9 < took < 10, took
    assert "did not stop within 1 s" in stderr
    assert "Current thread" in stderr or "Thread 0x" in stderr  # faulthandler's stacks
