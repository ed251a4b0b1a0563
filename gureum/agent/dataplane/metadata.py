"""The metadata service: http://169.254.169.254/ inside each DHCP namespace.

Served by the agent process itself: the listening socket is made from a
thread that entered the namespace (a socket stays in the namespace it was
born in), then a plain threading HTTP server serves it. A guest is known by
the network the request came in on and its source address, through the
agent's `metadata_lookup(network_id, ip)`; the documents are the ones the
config drive carries (gureum.agent.hypervisor.instance_metadata), so both
ways of reading metadata agree.

Two trees, as Nova's metadata API serves them: the OpenStack one
(/openstack/<version>/meta_data.json, user_data, network_data.json,
vendor_data.json, vendor_data2.json) and the EC2 one (/<version>/meta-data/...,
/<version>/user-data), every dated version serving the latest documents.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gureum.agent.dataplane import names, netns
from gureum.agent.dataplane.served import ByNamespace
from gureum.agent.hypervisor.instance_metadata import InstanceMetadata, ec2_meta_data, openstack_meta_data

log = logging.getLogger(__name__)

MetadataLookup = Callable[[str, str], InstanceMetadata | None]

EC2_VERSIONS = ["1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15", "2008-02-01",
                "2008-09-01", "2009-04-04"]
OPENSTACK_VERSIONS = ["2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30", "2016-10-06",
                      "2017-02-22", "2018-08-27", "2020-10-14"]
_IP_FREEBIND = 15


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=UTF-8"


def _text(lines: list[str]) -> Reply:
    return Reply(200, "\n".join(lines).encode())


def _json(document: dict[str, Any]) -> Reply:
    return Reply(200, json.dumps(document).encode(), "application/json")


def _not_found(what: str) -> Reply:
    return Reply(404, f"404 Not Found: {what}\n".encode())


def answer(metadata: InstanceMetadata, path: str) -> Reply:
    """The reply to GET `path` for this instance (pure: easy to test without a socket)."""
    parts = [part for part in path.split("?")[0].split("/") if part]
    if not parts:
        return _text([*EC2_VERSIONS, "latest"])
    if parts[0] == "openstack":
        return _openstack(metadata, parts[1:])
    if parts[0] in EC2_VERSIONS or parts[0] == "latest":
        return _ec2(metadata, parts[1:])
    return _not_found(f"no metadata version {parts[0]!r}")


def _openstack(metadata: InstanceMetadata, parts: list[str]) -> Reply:
    if not parts:
        return _text([*OPENSTACK_VERSIONS, "latest"])
    if parts[0] not in OPENSTACK_VERSIONS and parts[0] != "latest":
        return _not_found(f"no OpenStack metadata version {parts[0]!r}")
    documents: dict[str, Callable[[], Reply]] = {
        "meta_data.json": lambda: _json(openstack_meta_data(metadata)),
        "vendor_data.json": lambda: _json({}),
        "vendor_data2.json": lambda: _json({}),
        "network_data.json": lambda: _json(metadata.network_data or {"links": [], "networks": [], "services": []}),
    }
    if metadata.user_data is not None:
        documents["user_data"] = lambda: Reply(200, metadata.user_data or b"", "application/octet-stream")
    if len(parts) == 1:
        return _text(sorted(documents))
    if len(parts) == 2 and parts[1] in documents:
        return documents[parts[1]]()
    return _not_found("/".join(parts))


def _ec2(metadata: InstanceMetadata, parts: list[str]) -> Reply:
    if not parts:
        return _text(["meta-data/", *(["user-data"] if metadata.user_data is not None else [])])
    if parts[0] == "user-data" and len(parts) == 1:
        if metadata.user_data is None:
            return _not_found("this instance has no user data")
        return Reply(200, metadata.user_data, "application/octet-stream")
    if parts[0] != "meta-data":
        return _not_found("/".join(parts))
    tree = ec2_meta_data(metadata)
    if parts[1:2] == ["public-keys"]:
        return _public_keys(metadata, parts[2:])
    node: Any = tree
    for part in parts[1:]:
        if not isinstance(node, dict) or part not in node:
            return _not_found("/".join(parts))
        node = node[part]
    if isinstance(node, dict):
        return _text([f"{key}/" if isinstance(value, dict) else key for key, value in node.items()])
    if isinstance(node, list):
        return _text([str(item) for item in node])
    return Reply(200, str(node).encode())


def _public_keys(metadata: InstanceMetadata, parts: list[str]) -> Reply:
    keys = list(metadata.public_keys.items())
    if not parts:
        return _text([f"{index}={name}" for index, (name, _) in enumerate(keys)])
    if not parts[0].isdigit() or int(parts[0]) >= len(keys):
        return _not_found(f"no public key {parts[0]!r}")
    key = keys[int(parts[0])][1]
    if len(parts) == 1:
        return _text(["openssh-key"])
    if parts[1:] == ["openssh-key"]:
        return Reply(200, key.encode())
    return _not_found("/".join(parts))


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "gureum-metadata"
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self._reply(self._answer(), with_body=True)

    def do_HEAD(self) -> None:
        self._reply(self._answer(), with_body=False)

    def _answer(self) -> Reply:
        source = self.client_address[0]
        try:
            metadata = self.server.lookup(self.server.network_id, source)
        except Exception:
            log.exception("metadata lookup for %s on network %s failed", source, self.server.network_id)
            return Reply(500, b"500 Internal Server Error: the agent could not look up this instance\n")
        if metadata is None:
            return _not_found(f"no instance on network {self.server.network_id} has the address {source}; "
                              "the metadata service answers only this network's guests")
        return answer(metadata, self.path)

    def _reply(self, reply: Reply, with_body: bool) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if with_body:
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("metadata %s: " + format, self.client_address[0], *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, listening: socket.socket, network_id: str, lookup: MetadataLookup) -> None:
        super().__init__(listening.getsockname()[:2], _Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = listening
        self.network_id = network_id
        self.lookup = lookup


class MetadataServer:
    """One namespace's server: a listening socket made inside it, served from a thread."""

    def __init__(self, namespace: str, network_id: str, lookup: MetadataLookup, port: int = 80) -> None:
        self.namespace = namespace
        self.namespace_inode = netns.inode(namespace)
        listening = netns.run_in(namespace, lambda: _listen(names.METADATA_ADDRESS, port))
        self._server = _Server(listening, network_id, lookup)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.5},
                                        name=f"metadata-{namespace}", daemon=True)
        self._thread.start()

    def current(self) -> bool:
        """Still listening in the namespace that has the name now."""
        return self._thread.is_alive() and netns.inode(self.namespace) == self.namespace_inode

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _listen(address: str, port: int) -> socket.socket:
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Bind even if the address is not (yet) on the leg; it is added right before anyway.
    listening.setsockopt(socket.IPPROTO_IP, _IP_FREEBIND, 1)
    listening.bind((address, port))
    listening.listen(64)
    return listening


class MetadataServers(ByNamespace[MetadataServer]):
    """The servers of one dataplane, by DHCP namespace."""

    def __init__(self, lookup: MetadataLookup | None) -> None:
        super().__init__()
        self._lookup = lookup

    def ensure(self, namespace: str, network_id: str) -> None:
        if self._lookup is None:
            return
        server = self.get(namespace)
        if server is not None and server.current():
            return
        self.stop(namespace)
        self.put(namespace, MetadataServer(namespace, network_id, self._lookup))
