"""Wake an agent's long poll the moment its host's desired state changes.

Other controllers' changes are caught by the poll's periodic re-read of the
revision, so this is a latency optimisation, never a correctness need.
"""

from __future__ import annotations

import asyncio
import threading


class HostSignals:
    def __init__(self) -> None:
        self._events: dict[int, asyncio.Event] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def event_for(self, host_id: int) -> asyncio.Event:
        """Called on the event loop before reading the revision, so no change is missed."""
        self._loop = asyncio.get_running_loop()
        with self._lock:
            event = self._events.get(host_id)
            if event is None:
                event = self._events[host_id] = asyncio.Event()
            return event

    def notify(self, host_ids: set[int] | list[int]) -> None:
        """Safe from any thread."""
        loop = self._loop
        if loop is None:
            return
        with self._lock:
            fired = [self._events.pop(h) for h in host_ids if h in self._events]
        for event in fired:
            loop.call_soon_threadsafe(event.set)

    def notify_all(self) -> None:
        """Wake every waiting agent (a change that may concern any host)."""
        with self._lock:
            hosts = list(self._events)
        self.notify(hosts)
