"""Servers the agent runs inside namespaces (metadata, DNS), one per namespace, kept by name."""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar


class Closable(Protocol):
    def close(self) -> None: ...


Server = TypeVar("Server", bound=Closable)


class ByNamespace(Generic[Server]):
    """A server of one kind per namespace; one replaced or dropped is closed first."""

    def __init__(self) -> None:
        self._servers: dict[str, Server] = {}

    def get(self, namespace: str) -> Server | None:
        return self._servers.get(namespace)

    def put(self, namespace: str, server: Server) -> None:
        self.stop(namespace)
        self._servers[namespace] = server

    def stop(self, namespace: str) -> None:
        server = self._servers.pop(namespace, None)
        if server is not None:
            server.close()

    def namespaces(self) -> list[str]:
        return list(self._servers)

    def close(self) -> None:
        for namespace in list(self._servers):
            self.stop(namespace)
