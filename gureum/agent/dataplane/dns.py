"""DNS for guests whose subnet names no DNS servers: a relay on the DHCP port's addresses.

Neutron's DHCP agent lets dnsmasq answer DNS on the DHCP port and forward to the
host's resolvers. Here the namespace has no route to those resolvers (it holds
only the network's leg), so the agent relays instead, as it serves metadata: the
listening sockets are made inside the DHCP namespace, and each query is sent on
from a socket in the agent's own namespace, where /etc/resolv.conf's servers are
reachable. DHCP hands the DHCP port's address out as the DNS server (dhcp.py).

UDP and TCP (length-prefixed, RFC 1035 4.2.2) on port 53; each upstream is tried
in turn with a short timeout; when none answers the guest gets SERVFAIL at once
rather than waiting out its own timeouts.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gureum.agent.dataplane import netns
from gureum.agent.dataplane.served import ByNamespace

log = logging.getLogger(__name__)

DNS_PORT = 53
RESOLV_CONF = Path("/etc/resolv.conf")
UPSTREAM_TIMEOUT_SECONDS = 2.0
_MAX_UDP = 65535
_IP_FREEBIND = 15
Upstream = tuple[str, int]


def parse_upstream(text: str) -> Upstream:
    """'192.0.2.53', '192.0.2.53:5353', '[2001:db8::53]:53' or '2001:db8::53' -> (address, port)."""
    text = text.strip()
    if text.startswith("["):
        address, _, port = text[1:].partition("]:")
        return str(ipaddress.ip_address(address.rstrip("]"))), int(port or DNS_PORT)
    if text.count(":") == 1:
        address, port = text.split(":")
        return str(ipaddress.ip_address(address)), int(port)
    return str(ipaddress.ip_address(text)), DNS_PORT


def resolv_conf_upstreams(path: Path = RESOLV_CONF) -> list[Upstream]:
    """The host's resolvers, as its own programs use them."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    upstreams = []
    for line in lines:
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                upstreams.append((str(ipaddress.ip_address(words[1])), DNS_PORT))  # keeps a %scope
            except ValueError:
                continue
    return upstreams


def servfail(query: bytes) -> bytes:
    """A SERVFAIL answer to `query` (header and question kept), or b"" when it is not DNS."""
    if len(query) < 12:
        return b""
    identity, flags, questions = struct.unpack("!HHH", query[:6])
    end = _question_end(query, questions)
    # QR=1, the query's opcode and RD, RA=1, RCODE=2 (server failure).
    answer_flags = 0x8000 | (flags & 0x7900) | 0x0080 | 2
    if end is None:
        return struct.pack("!HHHHHH", identity, answer_flags, 0, 0, 0, 0)
    return struct.pack("!HHHHHH", identity, answer_flags, questions, 0, 0, 0) + query[12:end]


def _question_end(message: bytes, questions: int) -> int | None:
    offset = 12
    for _ in range(questions):
        while True:
            if offset >= len(message):
                return None
            length = message[offset]
            if length & 0xC0:  # a pointer ends the name
                offset += 2
                break
            offset += 1 + length
            if length == 0:
                break
        offset += 4  # type and class
    return offset if offset <= len(message) else None


class Forwarder:
    """Sends a query to the upstreams from the agent's own namespace."""

    def __init__(self, upstreams: list[Upstream] | None) -> None:
        # None: read /etc/resolv.conf on every query (it changes under DHCP clients and VPNs).
        self._fixed = upstreams

    def upstreams(self) -> list[Upstream]:
        return list(self._fixed) if self._fixed is not None else resolv_conf_upstreams()

    def udp(self, query: bytes) -> bytes:
        for upstream in self.upstreams():
            try:
                with socket.socket(_family(upstream[0]), socket.SOCK_DGRAM) as sock:
                    sock.settimeout(UPSTREAM_TIMEOUT_SECONDS)
                    sock.connect(upstream)
                    sock.send(query)
                    while True:
                        reply = sock.recv(_MAX_UDP)
                        if reply[:2] == query[:2]:  # the same id: the answer to this query
                            return reply
            except OSError as error:
                log.debug("DNS upstream %s:%s: %s", *upstream, error)
        return servfail(query)

    def tcp(self, query: bytes) -> bytes:
        for upstream in self.upstreams():
            try:
                with socket.create_connection(upstream, timeout=UPSTREAM_TIMEOUT_SECONDS) as sock:
                    sock.sendall(struct.pack("!H", len(query)) + query)
                    return _read_message(sock)
            except (OSError, ConnectionError) as error:
                log.debug("DNS upstream %s:%s over TCP: %s", *upstream, error)
        return servfail(query)


def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed mid-message")
        data += chunk
    return data


def _read_message(sock: socket.socket) -> bytes:
    (length,) = struct.unpack("!H", _read_exactly(sock, 2))
    return _read_exactly(sock, length)


class DnsRelay:
    """One DHCP namespace's listeners (UDP and TCP on each address), served from threads."""

    def __init__(self, namespace: str, addresses: Iterable[str], forwarder: Forwarder, workers: ThreadPoolExecutor,
                 port: int = DNS_PORT) -> None:
        self.namespace = namespace
        self.namespace_inode = netns.inode(namespace)
        self.addresses = frozenset(addresses)
        self._forwarder = forwarder
        self._workers = workers
        self._closed = threading.Event()
        self._sockets = [netns.run_in(namespace, lambda a=address, k=kind: _listen(a, port, k))
                         for address in sorted(self.addresses) for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM)]
        self._threads = [threading.Thread(target=self._serve_udp if s.type == socket.SOCK_DGRAM else self._serve_tcp,
                                          args=(s,), name=f"dns-{namespace}", daemon=True) for s in self._sockets]
        for thread in self._threads:
            thread.start()

    def current(self, addresses: Iterable[str]) -> bool:
        """Still serving these addresses in the namespace that has the name now."""
        return (all(t.is_alive() for t in self._threads) and self.addresses == frozenset(addresses)
                and netns.inode(self.namespace) == self.namespace_inode)

    def close(self) -> None:
        self._closed.set()
        for sock in self._sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _serve_udp(self, sock: socket.socket) -> None:
        while not self._closed.is_set():
            try:
                query, client = sock.recvfrom(_MAX_UDP)
            except TimeoutError:
                continue
            except OSError:
                return
            if query:
                self._workers.submit(self._answer_udp, sock, query, client)

    def _answer_udp(self, sock: socket.socket, query: bytes, client: tuple) -> None:
        reply = self._forwarder.udp(query)
        if reply:
            try:
                sock.sendto(reply, client)
            except OSError as error:
                log.debug("DNS reply to %s in %s: %s", client[0], self.namespace, error)

    def _serve_tcp(self, sock: socket.socket) -> None:
        while not self._closed.is_set():
            try:
                connection, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._workers.submit(self._answer_tcp, connection)

    def _answer_tcp(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(10)
            try:
                while True:
                    reply = self._forwarder.tcp(_read_message(connection))
                    connection.sendall(struct.pack("!H", len(reply)) + reply)
            except (OSError, ConnectionError, struct.error):
                return  # the guest closed, or sent garbage: either ends the connection


def _listen(address: str, port: int, kind: int) -> socket.socket:
    sock = socket.socket(_family(address), kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # The leg's address may be added a moment later in the same pass.
    sock.setsockopt(socket.IPPROTO_IP, _IP_FREEBIND, 1)
    sock.bind((address, port))
    if kind == socket.SOCK_STREAM:
        sock.listen(16)
    sock.settimeout(0.5)  # the serving loop looks up to see whether it was closed
    return sock


class DnsRelays(ByNamespace[DnsRelay]):
    """The relays of one dataplane, by DHCP namespace."""

    def __init__(self, upstreams: list[Upstream] | None = None, enabled: bool = True) -> None:
        super().__init__()
        self._forwarder = Forwarder(upstreams)
        self._enabled = enabled
        # Bounded: a flood of queries waits in line instead of making threads without end.
        self._workers = ThreadPoolExecutor(max_workers=16, thread_name_prefix="dns-query")

    @property
    def enabled(self) -> bool:
        return self._enabled

    def ensure(self, namespace: str, addresses: Iterable[str]) -> None:
        wanted = frozenset(addresses)
        relay = self.get(namespace)
        if relay is not None and relay.current(wanted):
            return
        self.stop(namespace)
        if self._enabled and wanted:
            self.put(namespace, DnsRelay(namespace, wanted, self._forwarder, self._workers))
