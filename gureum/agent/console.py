"""Serial consoles, node side: the agent dials out to the controller for every console
session a viewer waits for, and splices that websocket to the guest's QEMU serial socket.

QEMU's chardev socket takes one client at a time, so each guest gets one connection here and
its output is fanned out to every viewer; what any viewer types goes in. The console log
keeps being written by QEMU itself (logfile=), attached or not."""

from __future__ import annotations

import json
import logging
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from gureum.agent.hypervisor.instance_files import InstancePaths
from gureum.agent.protocol import AGENT_TOKEN_HEADER

log = logging.getLogger(__name__)

POLL_SECONDS = 25.0
RETRY_SECONDS = 3.0


class GuestConsole:
    """One connection to a guest's serial socket, shared by its viewers."""

    def __init__(self, socket_path: Path, on_empty: Any) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(socket_path))
        self.viewers: set[ClientConnection] = set()
        self.lock = threading.Lock()
        self.on_empty = on_empty
        threading.Thread(target=self._read, name=f"console-{socket_path.parent.name[:8]}", daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            with self.lock:
                viewers = list(self.viewers)
            for viewer in viewers:
                try:
                    viewer.send(data)
                except ConnectionClosed:
                    self.remove(viewer)
        with self.lock:
            viewers, self.viewers = list(self.viewers), set()
        for viewer in viewers:
            viewer.close(1000, "the guest's console closed")
        self.on_empty(self)

    def add(self, viewer: ClientConnection) -> None:
        with self.lock:
            self.viewers.add(viewer)

    def remove(self, viewer: ClientConnection) -> None:
        with self.lock:
            self.viewers.discard(viewer)
            empty = not self.viewers
        if empty:
            self.close()

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class ConsoleRelay:
    def __init__(self, controller_url: str, token: str, hostname: str, instances_dir: Path) -> None:
        self.http_base = controller_url.rstrip("/")
        parts = urllib.parse.urlsplit(self.http_base)
        self.ws_base = f"{'wss' if parts.scheme == 'https' else 'ws'}://{parts.netloc}{parts.path}"
        self.token = token
        self.hostname = hostname
        self.instances_dir = instances_dir
        self.guests: dict[str, GuestConsole] = {}
        self.lock = threading.Lock()

    def watch(self, stopping: threading.Event) -> None:
        """Long-poll the controller for wanted sessions; dial out for each."""
        host = urllib.parse.quote(self.hostname)
        while not stopping.is_set():
            request = urllib.request.Request(f"{self.http_base}/agent/v1/hosts/{host}/consoles?wait={POLL_SECONDS}")
            request.add_header(AGENT_TOKEN_HEADER, self.token)
            try:
                with urllib.request.urlopen(request, timeout=POLL_SECONDS + 15) as answer:  # noqa: S310 - our controller
                    wanted = json.loads(answer.read())["consoles"]
            except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
                log.debug("console poll failed: %s", exc)
                stopping.wait(RETRY_SECONDS)
                continue
            for item in wanted:
                threading.Thread(target=self.serve, args=(item["session"], item["instance_id"]),
                                 name="console-session", daemon=True).start()

    def _guest(self, instance_id: str) -> GuestConsole:
        with self.lock:
            guest = self.guests.get(instance_id)
            if guest is None:
                paths = InstancePaths(self.instances_dir / instance_id)
                guest = GuestConsole(paths.console_socket, lambda g, key=instance_id: self._forget(key, g))
                self.guests[instance_id] = guest
            return guest

    def _forget(self, instance_id: str, guest: GuestConsole) -> None:
        with self.lock:
            if self.guests.get(instance_id) is guest:
                del self.guests[instance_id]

    def serve(self, session: str, instance_id: str) -> None:
        url = f"{self.ws_base}/agent/v1/hosts/{urllib.parse.quote(self.hostname)}/console/{session}"
        try:
            ws = connect(url, additional_headers={AGENT_TOKEN_HEADER: self.token}, open_timeout=15,
                         max_size=2**20)
        except (OSError, ConnectionClosed, Exception) as exc:  # noqa: BLE001 - any failure ends this session only
            log.warning("console session for %s: cannot dial the controller: %s", instance_id, exc)
            return
        try:
            guest = self._guest(instance_id)
        except OSError as exc:
            ws.send(f"\r\n[gureum: the guest's serial console is not reachable: {exc}]\r\n")
            ws.close(1011, "no serial socket")
            return
        guest.add(ws)
        try:
            for message in ws:
                guest.write(message if isinstance(message, bytes) else message.encode())
        except (ConnectionClosed, OSError):
            pass
        finally:
            guest.remove(ws)
            ws.close()
