"""The agent's job queue: one job per key, per-key backoff, a wake at each end, cancellation."""

from __future__ import annotations

import threading
import time

from gureum.agent.jobs import Cancelled, Done, Failed, JobQueue, Running
from gureum.testing import wait_for


def test_one_job_per_key_and_its_outcome_once() -> None:
    woken = threading.Event()
    jobs = JobQueue(woken.set)
    release = threading.Event()
    started: list[str] = []

    def work(cancel: threading.Event) -> str:
        started.append("a")
        release.wait(10)
        return "fetched"

    assert jobs.ensure("vm-1", "fetch a", work) == Running("fetch a")
    # The same key, even for other work, waits for the job in flight; another key goes on.
    assert jobs.ensure("vm-1", "snapshot s", work) == Running("fetch a")
    assert jobs.ensure("vm-2", "fetch a", lambda cancel: "other") == Running("fetch a")
    wait_for(lambda: jobs.running("vm-2") is None, 5, 0.01, "vm-2's job to end")
    assert jobs.ensure("vm-2", "fetch a", work) == Done("other")
    assert started == ["a"]
    assert jobs.names() == {"vm-1": "fetch a"}
    woken.clear()
    release.set()
    assert woken.wait(5), "a finished job wakes a pass"
    assert jobs.ensure("vm-1", "fetch a", work) == Done("fetched")
    assert jobs.names() == {}


def test_failures_back_off_per_key_and_a_success_forgets() -> None:
    jobs = JobQueue(lambda: None, base_delay=0.2, max_delay=0.4)
    attempts: list[float] = []

    def flaky(cancel: threading.Event) -> str:
        attempts.append(time.monotonic())
        if len(attempts) < 4:
            raise OSError(f"refused #{len(attempts)}")
        return "ok"

    def outcome() -> Done | Failed | None:
        got = jobs.ensure("vm", "fetch", flaky)
        return None if isinstance(got, Running) else got

    first = wait_for(outcome, 5, 0.01, "the first failure")
    assert isinstance(first, Failed) and str(first.error) == "refused #1"
    # Inside its delay the key answers Failed without trying again.
    again = jobs.ensure("vm", "fetch", flaky)
    assert isinstance(again, Failed) and len(attempts) == 1
    while not isinstance(got := jobs.ensure("vm", "fetch", flaky), Done):
        time.sleep(0.01)
    assert got == Done("ok") and len(attempts) == 4
    gaps = [round(b - a, 1) for a, b in zip(attempts, attempts[1:], strict=False)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4 and gaps[2] >= 0.4, gaps  # 0.2, 0.4, then capped at 0.4
    # Success forgot the failures: the next failure waits the base delay again.
    assert jobs._failures == {}


def test_new_work_for_a_failed_key_does_not_wait_out_the_old_backoff() -> None:
    jobs = JobQueue(lambda: None, base_delay=60)

    def broken(cancel: threading.Event) -> None:
        raise OSError("no")

    jobs.ensure("vm", "fetch", broken)
    wait_for(lambda: isinstance(jobs.ensure("vm", "fetch", broken), Failed), 5, 0.01, "the failure")
    assert jobs.ensure("vm", "snapshot s", lambda cancel: 1) == Running("snapshot s")


def test_cancel_stops_the_job_and_leaves_no_outcome_or_backoff() -> None:
    jobs = JobQueue(lambda: None)
    stopped = threading.Event()

    def endless(cancel: threading.Event) -> None:
        while not cancel.wait(0.01):
            pass
        stopped.set()
        raise Cancelled("no longer wanted")

    jobs.ensure("vm", "fetch", endless)
    jobs.cancel("vm")
    assert jobs.running("vm") == "fetch"  # still one per key until it has really stopped
    assert stopped.wait(5)
    wait_for(lambda: jobs.keys() == set(), 5, 0.01, "the cancelled job forgotten")
    assert jobs.ensure("vm", "fetch", lambda cancel: 2) == Running("fetch")
