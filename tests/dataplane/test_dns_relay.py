"""DNS for guests whose subnet names no servers: the DHCP port answers, relaying to upstreams."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from gureum.agent.dataplane.dns import parse_upstream, resolv_conf_upstreams, servfail
from gureum.agent.protocol import DesiredNetworking
from tests.dataplane.helpers import PYTHON, World, network, port

ANSWER_ADDRESS = "192.0.2.99"

# Run in the stand-in guest: one A query for www.example.test over UDP or TCP; prints rcode and address.
GUEST_QUERY = r"""
import socket, struct, sys
server, transport = sys.argv[1], sys.argv[2]
query = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
query += b"".join(bytes([len(p)]) + p.encode() for p in "www.example.test".split(".")) + b"\0"
query += struct.pack("!HH", 1, 1)
if transport == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(8)
    s.sendto(query, (server, 53)); reply = s.recv(4096)
else:
    s = socket.create_connection((server, 53), timeout=8)
    s.sendall(struct.pack("!H", len(query)) + query)
    length = struct.unpack("!H", s.recv(2))[0]; reply = b""
    while len(reply) < length: reply += s.recv(length - len(reply))
assert reply[:2] == query[:2], "a reply to another query"
rcode = struct.unpack("!H", reply[2:4])[0] & 0xF
answers = struct.unpack("!H", reply[6:8])[0]
print(rcode, socket.inet_ntoa(reply[-4:]) if answers else "-")
"""


def answer(query: bytes) -> bytes:
    """An upstream's reply: the query turned into an answer with one A record."""
    header = struct.pack("!HHHHHH", struct.unpack("!H", query[:2])[0], 0x8180, 1, 1, 0, 0)
    record = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton(ANSWER_ADDRESS)
    return header + query[12:] + record


@pytest.fixture
def upstream() -> Iterator[tuple[str, int]]:
    """A resolver on this host's loopback (UDP and TCP on one port), standing for /etc/resolv.conf's."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    port_number = udp.getsockname()[1]
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", port_number))
    tcp.listen(4)
    stop = threading.Event()

    def serve_udp() -> None:
        udp.settimeout(0.2)
        while not stop.is_set():
            try:
                query, client = udp.recvfrom(4096)
            except TimeoutError:
                continue
            udp.sendto(answer(query), client)

    def serve_tcp() -> None:
        tcp.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = tcp.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(5)
                length = struct.unpack("!H", connection.recv(2))[0]
                query = b""
                while len(query) < length:
                    query += connection.recv(length - len(query))
                reply = answer(query)
                connection.sendall(struct.pack("!H", len(reply)) + reply)

    threads = [threading.Thread(target=serve_udp, daemon=True), threading.Thread(target=serve_tcp, daemon=True)]
    for thread in threads:
        thread.start()
    yield ("127.0.0.1", port_number)
    stop.set()
    for thread in threads:
        thread.join(timeout=2)
    udp.close()
    tcp.close()


def test_a_subnet_without_dns_servers_gets_the_dhcp_port_which_relays_udp_and_tcp(
        world: World, upstream: tuple[str, int]) -> None:
    net = network("10.7.0.0/24", vni=171)
    mine = port(net, "10.7.0.5", port_security_enabled=False)
    dataplane = world.dataplane(dns_upstreams=[upstream])
    guest = world.guest(mine)
    assert dataplane.apply(DesiredNetworking(networks=[net], ports=[mine])).errors == {}

    lease = guest.dhcp()
    assert lease["dns"].split() == ["10.7.0.2"]  # the DHCP port's own address, as Neutron hands out
    guest.configure(lease)
    for transport in ("udp", "tcp"):
        result = guest.run(PYTHON, "-c", GUEST_QUERY, "10.7.0.2", transport)
        assert result.stdout.split() == ["0", ANSWER_ADDRESS], (transport, result.stderr)


def test_no_upstream_answers_servfail_at_once_and_named_servers_are_handed_out_as_they_are(world: World) -> None:
    quiet = network("10.8.0.0/24", vni=172)
    named = network("10.9.0.0/24", vni=173, dns_nameservers=["192.0.2.53"])
    on_quiet, on_named = port(quiet, "10.8.0.5", port_security_enabled=False), port(named, "10.9.0.5",
                                                                                     port_security_enabled=False)
    dataplane = world.dataplane()  # no upstream at all
    guest, other = world.guest(on_quiet), world.guest(on_named)
    assert dataplane.apply(DesiredNetworking(networks=[quiet, named], ports=[on_quiet, on_named])).errors == {}

    assert other.dhcp()["dns"].split() == ["192.0.2.53"]
    guest.configure(guest.dhcp())
    result = guest.run(PYTHON, "-c", GUEST_QUERY, "10.8.0.2", "udp", timeout=10)
    assert result.stdout.split() == ["2", "-"], result.stderr  # SERVFAIL, not a silent timeout


def test_upstreams_are_read_as_resolv_conf_writes_them(tmp_path) -> None:  # noqa: ANN001
    conf = tmp_path / "resolv.conf"
    conf.write_text("# from DHCP\nsearch example.org\nnameserver 192.0.2.1\nnameserver fe80::1%eth0\n"
                    "nameserver not-an-address\noptions edns0\n")
    assert resolv_conf_upstreams(conf) == [("192.0.2.1", 53), ("fe80::1%eth0", 53)]
    assert resolv_conf_upstreams(tmp_path / "missing") == []
    assert parse_upstream("192.0.2.1:5353") == ("192.0.2.1", 5353)
    assert parse_upstream("[2001:db8::1]:53") == ("2001:db8::1", 53)
    assert parse_upstream("2001:db8::1") == ("2001:db8::1", 53)


def test_servfail_keeps_the_id_and_question_and_garbage_gets_nothing() -> None:
    query = struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\x01a\x00" + struct.pack("!HH", 1, 1)
    reply = servfail(query)
    identity, flags, questions = struct.unpack("!HHH", reply[:6])
    assert identity == 7 and flags & 0x8000 and flags & 0xF == 2 and questions == 1
    assert reply[12:] == query[12:]
    assert servfail(b"short") == b""
