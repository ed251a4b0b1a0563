"""A one-lease DHCP server for tests, run inside a test's own network namespace.

    python dhcp_responder.py IFACE SERVER_IP CLIENT_IP [MTU [DEST/LEN=ROUTER,...]]

Answers DISCOVER with OFFER and REQUEST with ACK for CLIENT_IP/24, router and
server SERVER_IP; optionally the interface MTU (option 26) and classless static
routes (option 121), as neutron's dnsmasq sends them. Enough for busybox
udhcpc; not a DHCP server for anything else.
(The real one, dnsmasq in a DHCP namespace, belongs to the networking issue.)
"""

from __future__ import annotations

import socket
import struct
import sys

DISCOVER, OFFER, REQUEST, ACK = 1, 2, 3, 5
MAGIC_COOKIE = b"\x63\x82\x53\x63"


def message_type(packet: bytes) -> int | None:
    options = packet[240:]
    index = 0
    while index < len(options) and options[index] != 255:
        if options[index] == 0:  # pad
            index += 1
            continue
        code, length = options[index], options[index + 1]
        if code == 53:
            return options[index + 2]
        index += 2 + length
    return None


def classless_routes(routes: str) -> bytes:
    """Option 121 payload (RFC 3442) for "10.0.0.0/8=192.0.2.1,0.0.0.0/0=192.0.2.1"."""
    payload = b""
    for route in filter(None, routes.split(",")):
        destination, router = route.split("=")
        network, length = destination.split("/")
        significant = (int(length) + 7) // 8
        payload += bytes([int(length)]) + socket.inet_aton(network)[:significant] + socket.inet_aton(router)
    return payload


def reply(request: bytes, kind: int, server: str, client: str, mtu: int | None = None, routes: str = "") -> bytes:
    transaction_id, client_hardware_address = request[4:8], request[28:44]
    header = (bytes([2, 1, 6, 0]) + transaction_id + b"\0\0" + b"\x80\0"  # BOOTREPLY, broadcast flag
              + bytes(4) + socket.inet_aton(client) + socket.inet_aton(server) + bytes(4)
              + client_hardware_address + bytes(192) + MAGIC_COOKIE)
    options = (bytes([53, 1, kind, 54, 4]) + socket.inet_aton(server)
               + bytes([51, 4]) + struct.pack("!I", 3600)
               + bytes([1, 4, 255, 255, 255, 0, 3, 4]) + socket.inet_aton(server))
    if mtu is not None:
        options += bytes([26, 2]) + struct.pack("!H", mtu)
    if routes:
        payload = classless_routes(routes)
        options += bytes([121, len(payload)]) + payload
    options += b"\xff"
    return header + options


def serve(interface: str, server: str, client: str, mtu: int | None = None, routes: str = "") -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
    listener.bind(("0.0.0.0", 67))
    answers = {DISCOVER: OFFER, REQUEST: ACK}
    while True:
        packet, _ = listener.recvfrom(2048)
        kind = answers.get(message_type(packet) or 0)
        if kind is not None:
            # The client has no address yet: broadcast on the interface.
            listener.sendto(reply(packet, kind, server, client, mtu, routes), ("255.255.255.255", 68))


if __name__ == "__main__":
    arguments = sys.argv[1:]
    serve(arguments[0], arguments[1], arguments[2], int(arguments[3]) if len(arguments) > 3 else None,
          arguments[4] if len(arguments) > 4 else "")
