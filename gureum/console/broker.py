"""Console sessions of this controller: made by the compute API, waited for by the node's
agent (a long poll), and met here: the viewer's socket and the agent's socket.

A session is a one-time, short-lived capability (its id is the URL's token, as in Nova's
serial proxy). Sessions live in this process: the agent must dial the controller the viewer
reached (with one controller, always so)."""

from __future__ import annotations

import asyncio
import secrets
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

# A session nobody opened within this time is forgotten.
UNCLAIMED_SECONDS = 120.0


@dataclass
class ConsoleSession:
    id: str
    hostname: str
    instance_uuid: str
    created: float = field(default_factory=time.monotonic)
    # Set when a viewer is waiting, so the agent dials in for it.
    wanted: bool = False
    claimed_by_agent: bool = False
    agent_socket: asyncio.Future[Any] | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)


class ConsoleBroker:
    def __init__(self) -> None:
        self.sessions: dict[str, ConsoleSession] = {}
        self._host_events: dict[str, asyncio.Event] = {}

    def create(self, hostname: str, instance_uuid: str) -> ConsoleSession:
        self._forget_stale()
        session = ConsoleSession(secrets.token_urlsafe(24), hostname, instance_uuid)
        self.sessions[session.id] = session
        return session

    def _forget_stale(self) -> None:
        now = time.monotonic()
        for key, session in list(self.sessions.items()):
            if not session.wanted and now - session.created > UNCLAIMED_SECONDS:
                del self.sessions[key]

    def _event(self, hostname: str) -> asyncio.Event:
        return self._host_events.setdefault(hostname, asyncio.Event())

    def want(self, session: ConsoleSession) -> asyncio.Future[Any]:
        """A viewer arrived: ask the agent to dial in; the future gets the agent's socket."""
        session.wanted = True
        session.agent_socket = asyncio.get_running_loop().create_future()
        self._event(session.hostname).set()
        return session.agent_socket

    def pending(self, hostname: str) -> list[ConsoleSession]:
        return [s for s in self.sessions.values() if s.hostname == hostname and s.wanted and not s.claimed_by_agent]

    async def wait_pending(self, hostname: str, timeout: float) -> list[ConsoleSession]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.pending(hostname)
            remaining = deadline - time.monotonic()
            if found or remaining <= 0:
                for session in found:
                    session.claimed_by_agent = True
                return found
            event = self._event(hostname)
            event.clear()
            try:
                await asyncio.wait_for(event.wait(), min(remaining, 5.0))
            except TimeoutError:
                pass

    def end(self, session: ConsoleSession) -> None:
        session.finished.set()
        self.sessions.pop(session.id, None)


_BROKERS: "weakref.WeakKeyDictionary[Any, ConsoleBroker]" = weakref.WeakKeyDictionary()


def broker_of(cloud: Any) -> ConsoleBroker:
    """The one broker of this controller process (per cloud object)."""
    broker = _BROKERS.get(cloud)
    if broker is None:
        broker = _BROKERS[cloud] = ConsoleBroker()
    return broker
