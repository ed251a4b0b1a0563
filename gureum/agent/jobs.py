"""Slow work beside the reconcile pass: at most one job per key, each key with its own backoff.

The pass must never wait on the network: fetching a 2 GB image or uploading a
snapshot takes minutes, and every other guest on the node would wait with it.
So the pass asks for such work here and moves on; the job runs on its own thread,
and when it ends it wakes a pass, which takes the outcome. This is the Kubernetes
work queue's contract (client-go `workqueue`): one item per key in flight, a key
that failed comes back only after its own exponential delay (`AddRateLimited`),
and a success resets that key's delay (`Forget`), while other keys go on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

BASE_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 300.0


class Cancelled(Exception):
    """The job's key is no longer wanted; it stopped early and left nothing half done."""


# A job's work gets an event that is set when the job should stop early.
Work = Callable[[threading.Event], Any]


@dataclass(frozen=True)
class Running:
    """A job for this key is in flight (`name` says which)."""

    name: str


@dataclass(frozen=True)
class Done:
    value: Any


@dataclass(frozen=True)
class Failed:
    """The last job of this key failed; the next one may start at `retry_at` (monotonic)."""

    error: BaseException
    retry_at: float


Outcome = Running | Done | Failed


@dataclass
class _Job:
    name: str
    cancel: threading.Event = field(default_factory=threading.Event)
    outcome: Done | Failed | None = None


class JobQueue:
    def __init__(self, wake: Callable[[], None], base_delay: float = BASE_DELAY_SECONDS,
                 max_delay: float = MAX_DELAY_SECONDS) -> None:
        self._wake = wake
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}  # in flight, or finished and not yet taken
        self._failures: dict[str, int] = {}  # consecutive failures per key
        self._retry_at: dict[str, float] = {}
        self._last_error: dict[str, BaseException] = {}
        self._last_failed: dict[str, str] = {}  # the name of the job that failed

    def ensure(self, key: str, name: str, work: Work) -> Outcome:
        """The outcome of job `name` for `key`, starting it when nothing runs for the key.

        A finished job's outcome is handed out once (Done or Failed); a failed key then
        answers Failed until its delay has passed, and the next ensure starts it again.
        While any job of the key runs, this answers Running with that job's name.
        """
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.outcome is None:
                return Running(job.name)
            if job is not None:
                del self._jobs[key]
                if job.name == name:
                    return job.outcome  # type: ignore[return-value]
            if self._last_failed.get(key, name) != name:
                self._forget(key)  # the backoff throttles retrying one failing job, not new work
            retry_at = self._retry_at.get(key, 0.0)
            if time.monotonic() < retry_at:
                return Failed(self._last_error[key], retry_at)
            job = self._jobs[key] = _Job(name)
        threading.Thread(target=self._run, args=(key, job, work), name=f"job {name}", daemon=True).start()
        return Running(name)

    def running(self, key: str) -> str | None:
        """The name of the job in flight for `key`, if any."""
        with self._lock:
            job = self._jobs.get(key)
            return job.name if job is not None and job.outcome is None else None

    def names(self) -> dict[str, str]:
        """Every key with a job in flight, and that job's name."""
        with self._lock:
            return {key: job.name for key, job in self._jobs.items() if job.outcome is None}

    def keys(self) -> set[str]:
        """Keys with a job in flight or an outcome not yet taken."""
        with self._lock:
            return set(self._jobs)

    def cancel(self, key: str) -> None:
        """Ask the key's job to stop, and forget the key (its outcome and its backoff)."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None:
                job.cancel.set()
                if job.outcome is not None:
                    del self._jobs[key]
            self._forget(key)

    def _forget(self, key: str) -> None:
        for table in (self._failures, self._retry_at, self._last_error, self._last_failed):
            table.pop(key, None)  # type: ignore[attr-defined]

    def _run(self, key: str, job: _Job, work: Work) -> None:
        outcome: Done | Failed
        try:
            outcome = Done(work(job.cancel))
        except BaseException as exc:  # noqa: BLE001 - the pass reports it
            outcome = Failed(exc, 0.0)
        with self._lock:
            mine = self._jobs.get(key) is job
            if job.cancel.is_set():
                # Nobody wants it any more: no outcome, no backoff.
                if mine:
                    del self._jobs[key]
                outcome_to_log = None
            elif isinstance(outcome, Done):
                self._forget(key)
                job.outcome, outcome_to_log = outcome, None
            else:
                failures = self._failures[key] = self._failures.get(key, 0) + 1
                delay = min(self.base_delay * 2 ** (failures - 1), self.max_delay)
                outcome = Failed(outcome.error, time.monotonic() + delay)
                self._retry_at[key], self._last_error[key] = outcome.retry_at, outcome.error
                self._last_failed[key] = job.name
                job.outcome = outcome_to_log = outcome
        if outcome_to_log is not None:
            delay = max(0.0, outcome_to_log.retry_at - time.monotonic())
            log.info("job %s failed (next try in %.0f s): %s", job.name, delay, outcome_to_log.error)
            # Its retry is due later: wake a pass then too (AddRateLimited re-adds the key).
            timer = threading.Timer(delay, self._wake)
            timer.daemon = True
            timer.start()
        self._wake()
