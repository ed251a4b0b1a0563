"""A tiny TCP/UDP tool run inside namespaces (the host has no ping).

serve PORT [TEXT]          answer each connection with "TEXT <peer ip>" (TEXT defaults to hello)
connect HOST PORT [TIMEOUT] [SOURCE]
                           print the answer; exit 1 if no connection
echo PORT                  echo every line back on each connection
session HOST PORT FILE     connect, exchange one line, wait until FILE exists, exchange another on
                           the same connection; print both answers (exit 1 if either fails)
udp-listen PORT TIMEOUT    print the first datagram's "<source port> <text>", or exit 1
udp-send HOST PORT SPORT TEXT
"""

from __future__ import annotations

import socket
import sys


def serve(port: int, text: str) -> None:
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("0.0.0.0", port))
    listening.listen(16)
    while True:
        connection, peer = listening.accept()
        with connection:
            connection.sendall(f"{text} {peer[0]}\n".encode())


def connect(host: str, port: int, timeout: float, source: str | None) -> int:
    try:
        connection = socket.create_connection((host, port), timeout=timeout,
                                              source_address=(source, 0) if source else None)
        with connection:
            # The first line only: an ssh server sends binary key exchange data right after it.
            print(connection.recv(200).decode(errors="replace").splitlines()[0].strip())
        return 0
    except OSError as error:
        print(f"no connection: {error}", file=sys.stderr)
        return 1


def echo(port: int) -> None:
    import threading
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("0.0.0.0", port))
    listening.listen(16)

    def serve_one(connection: socket.socket) -> None:
        with connection, connection.makefile("rwb") as stream:
            for line in stream:
                stream.write(line)
                stream.flush()

    while True:
        connection, _ = listening.accept()
        threading.Thread(target=serve_one, args=(connection,), daemon=True).start()


def session(host: str, port: int, trigger: str) -> int:
    import os
    import time
    try:
        with socket.create_connection((host, port), timeout=5) as connection, \
                connection.makefile("rwb") as stream:
            stream.write(b"first\n")
            stream.flush()
            print(stream.readline().decode().strip(), flush=True)
            while not os.path.exists(trigger):
                time.sleep(0.05)
            stream.write(b"second\n")
            stream.flush()
            print(stream.readline().decode().strip(), flush=True)
        return 0
    except OSError as error:
        print(f"session broke: {error}", file=sys.stderr)
        return 1


def udp_listen(port: int, timeout: float) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listening:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(("0.0.0.0", port))
        listening.settimeout(timeout)
        try:
            data, peer = listening.recvfrom(1000)
        except OSError:
            return 1
        print(peer[1], data.decode())
        return 0


def udp_send(host: str, port: int, source_port: int, text: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sending:
        sending.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sending.bind(("0.0.0.0", source_port))
        sending.sendto(text.encode(), (host, port))


def main(argv: list[str]) -> int:
    command = argv[0]
    if command == "serve":
        serve(int(argv[1]), argv[2] if len(argv) > 2 else "hello")
    elif command == "connect":
        return connect(argv[1], int(argv[2]), float(argv[3]) if len(argv) > 3 else 2.0,
                       argv[4] if len(argv) > 4 else None)
    elif command == "echo":
        echo(int(argv[1]))
    elif command == "session":
        return session(argv[1], int(argv[2]), argv[3])
    elif command == "udp-listen":
        return udp_listen(int(argv[1]), float(argv[2]))
    elif command == "udp-send":
        udp_send(argv[1], int(argv[2]), int(argv[3]), argv[4])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
