"""An HTTP proxy in front of the controller that serves one image as a slow, endless trickle.

The agent is pointed at it instead of the controller: every request goes through
unchanged, except the image file of `slow_image_id`, which answers a 2 GiB
Content-Length and then sends 64 KiB every 0.1 s, as a large image over a thin
link would, until the agent hangs up or the proxy closes.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOW_IMAGE_BYTES = 2 * 1024**3
TRICKLE_CHUNK = b"\0" * 64 * 1024
TRICKLE_PERIOD_SECONDS = 0.1
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "server", "date"}


class TrickleProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = upstream.rstrip("/")
        self.slow_image_id = ""
        self.trickling = threading.Event()  # the slow download is in flight
        self.trickle_ended = threading.Event()  # and the agent hung up (or we closed)
        self.trickled_bytes = 0
        self.closing = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, name="trickle-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> TrickleProxy:
        self._thread.start()
        return self

    def close(self) -> None:
        self.closing.set()
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: TrickleProxy

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.server.slow_image_id and self.path.startswith(f"/agent/v1/images/{self.server.slow_image_id}/file"):
            self._trickle()
        else:
            self._forward()

    def _trickle(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(SLOW_IMAGE_BYTES))
        self.end_headers()
        self.server.trickle_ended.clear()
        self.server.trickling.set()
        try:
            while not self.server.closing.is_set() and self.server.trickled_bytes < SLOW_IMAGE_BYTES:
                self.wfile.write(TRICKLE_CHUNK)
                self.wfile.flush()
                self.server.trickled_bytes += len(TRICKLE_CHUNK)
                time.sleep(TRICKLE_PERIOD_SECONDS)
        except OSError:
            pass  # the agent hung up
        finally:
            self.server.trickling.clear()
            self.server.trickle_ended.set()

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        request = urllib.request.Request(self.server.upstream + self.path, data=body, method=self.command,
                                         headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=120)  # noqa: S310 - the test's own cloud
        except urllib.error.HTTPError as exc:
            response = exc
        with response:
            data = response.read()
            self.send_response(response.status)
            for key, value in response.headers.items():
                if key.lower() not in HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    do_POST = do_PUT = do_DELETE = _forward  # noqa: N815 - http.server's naming
