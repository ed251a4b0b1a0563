"""The agent's HTTP client for the controller's /agent/v1 API."""

from __future__ import annotations

import http.client
import json
import os
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, BinaryIO

from gureum.agent.jobs import Cancelled
from gureum.agent.protocol import AGENT_TOKEN_HEADER, DesiredHostState, HostReport


class ControllerUnreachable(RuntimeError):
    """The controller did not answer; the agent keeps its guests and retries."""


class ControllerRefused(RuntimeError):
    """The controller answered with an error; the message is its own."""


CHUNK_BYTES = 1024 * 1024


class _CancellableReader:
    """A file urllib sends chunk by chunk, that ends the upload once `cancel` is set."""

    def __init__(self, file: BinaryIO, cancel: threading.Event | None) -> None:
        self.file, self.cancel = file, cancel

    def read(self, size: int = -1) -> bytes:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("snapshot upload stopped: no longer wanted")
        return self.file.read(size)

    def close(self) -> None:
        self.file.close()


class ControllerClient:
    def __init__(self, controller_url: str, token: str, timeout: float = 60.0) -> None:
        self.base = controller_url.rstrip("/") + "/agent/v1"
        self.token = token
        self.timeout = timeout

    def _request(self, method: str, path: str, body: bytes | None = None, timeout: float | None = None,
                 content_type: str = "application/json") -> http.client.HTTPResponse:
        request = urllib.request.Request(self.base + path, data=body, method=method)
        request.add_header(AGENT_TOKEN_HEADER, self.token)
        if body is not None:
            request.add_header("Content-Type", content_type)
        try:
            return urllib.request.urlopen(request, timeout=timeout or self.timeout)  # noqa: S310 - our controller
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:2000]
            raise ControllerRefused(f"{method} {path}: HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            raise ControllerUnreachable(f"{method} {self.base}{path}: {exc}") from exc

    def _json(self, method: str, path: str, payload: Any = None, timeout: float | None = None) -> Any:
        body = json.dumps(payload).encode() if payload is not None else None
        with self._request(method, path, body, timeout) as response:
            return json.loads(response.read() or b"null")

    def report(self, report: HostReport) -> int:
        answer = self._json("POST", f"/hosts/{urllib.parse.quote(report.hostname)}/report", report.to_dict())
        return int(answer["desired_revision"])

    def desired(self, hostname: str, after: int, wait: float) -> DesiredHostState:
        query = urllib.parse.urlencode({"after": after, "wait": wait})
        answer = self._json("GET", f"/hosts/{urllib.parse.quote(hostname)}/desired?{query}", timeout=wait + 30)
        return DesiredHostState.from_dict(answer)

    def download_image(self, image_id: str, target: Path, cancel: threading.Event | None = None) -> None:
        """Write the image to `target` through a temporary file, so a half download never counts.

        `cancel` set: stop between chunks (the image is no longer wanted here)."""
        partial = target.with_name(f".{target.name}.partial{os.getpid()}.{threading.get_ident()}")
        try:
            with self._request("GET", f"/images/{image_id}/file", timeout=600) as response, open(partial, "wb") as out:
                while chunk := response.read1(CHUNK_BYTES):
                    if cancel is not None and cancel.is_set():
                        raise Cancelled(f"download of image {image_id} stopped: no longer wanted")
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)

    def upload_snapshot(self, image_id: str, project_id: str, source: Path,
                        cancel: threading.Event | None = None) -> None:
        size = source.stat().st_size
        url = f"/images/{image_id}/file?project_id={urllib.parse.quote(project_id)}"
        data = _CancellableReader(open(source, "rb"), cancel)  # noqa: SIM115 - closed below
        request = urllib.request.Request(self.base + url, data=data, method="PUT")
        request.add_header(AGENT_TOKEN_HEADER, self.token)
        request.add_header("Content-Type", "application/octet-stream")
        request.add_header("Content-Length", str(size))
        try:
            with urllib.request.urlopen(request, timeout=3600) as response:  # noqa: S310
                response.read()
        except urllib.error.HTTPError as exc:
            raise ControllerRefused(f"snapshot upload: HTTP {exc.code}: {exc.read().decode(errors='replace')}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ControllerUnreachable(f"snapshot upload: {exc}") from exc
        finally:
            request.data.close()  # type: ignore[union-attr]
