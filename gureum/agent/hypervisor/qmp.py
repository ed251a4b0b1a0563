"""A small synchronous QMP client: one connection per conversation.

QEMU serves one QMP client at a time on a socket, so the agent connects, does
what it came for, and disconnects; nothing holds the socket between actions.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Callable

from gureum.agent.hypervisor.base import HypervisorError


class QmpError(HypervisorError):
    """QEMU answered a command with an error, or the conversation broke."""


class QmpClient:
    def __init__(self, socket_path: Path, timeout_seconds: float = 10.0) -> None:
        self._socket_path = socket_path
        self._timeout_seconds = timeout_seconds
        self._socket: socket.socket | None = None
        self._reader: Any = None
        self.events: list[dict[str, Any]] = []  # asynchronous events seen while talking

    def __enter__(self) -> "QmpClient":
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.settimeout(self._timeout_seconds)
        try:
            self._socket.connect(str(self._socket_path))
            self._reader = self._socket.makefile("rb")
            greeting = self._read_message()
            if "QMP" not in greeting:
                raise QmpError(f"unexpected QMP greeting: {greeting}")
            self.execute("qmp_capabilities")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def execute(self, command: str, arguments: dict[str, Any] | None = None, pass_fd: int | None = None) -> Any:
        """Run one command and return its "return" value. `pass_fd` travels with
        it as SCM_RIGHTS, as `getfd` and `add-fd` expect."""
        if self._socket is None:
            raise QmpError("not connected")
        request: dict[str, Any] = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        payload = json.dumps(request).encode() + b"\n"
        if pass_fd is None:
            self._socket.sendall(payload)
        else:
            socket.send_fds(self._socket, [payload], [pass_fd])
        while True:
            message = self._read_message()
            if "event" in message:
                self.events.append(message)
                continue
            if "error" in message:
                error = message["error"]
                raise QmpError(f"QMP {command}: {error.get('class')}: {error.get('desc')}")
            return message.get("return")

    def wait_for_event(self, matches: Callable[[dict[str, Any]], bool], timeout_seconds: float) -> bool:
        """Whether an event that `matches` arrived (already buffered, or within the timeout)."""
        if any(matches(event) for event in self.events):
            return True
        if self._socket is None:
            raise QmpError("not connected")
        deadline = time.monotonic() + timeout_seconds
        try:
            while (remaining := deadline - time.monotonic()) > 0:
                self._socket.settimeout(remaining)
                try:
                    message = self._read_message()
                except QmpError as error:
                    if not isinstance(error.__cause__, TimeoutError):
                        raise
                    # A socket file that timed out cannot be read again: start a new conversation.
                    self.close()
                    self.__enter__()
                    return False
                if "event" in message:
                    self.events.append(message)
                    if matches(message):
                        return True
            return False
        finally:
            if self._socket is not None:
                self._socket.settimeout(self._timeout_seconds)

    def _read_message(self) -> dict[str, Any]:
        try:
            line = self._reader.readline()
        except OSError as error:  # includes socket.timeout
            raise QmpError(f"QMP connection to {self._socket_path}: {error}") from error
        if not line:
            raise QmpError(f"QEMU closed the QMP connection at {self._socket_path}")
        return json.loads(line)
