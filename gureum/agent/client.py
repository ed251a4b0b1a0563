"""The agent's HTTP client for the controller's /agent/v1 API."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from gureum.agent.protocol import AGENT_TOKEN_HEADER, DesiredHostState, HostReport


class ControllerUnreachable(RuntimeError):
    """The controller did not answer; the agent keeps its guests and retries."""


class ControllerRefused(RuntimeError):
    """The controller answered with an error; the message is its own."""


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

    def download_image(self, image_id: str, target: Path) -> None:
        """Write the image to `target` through a temporary file, so a half download never counts."""
        partial = target.with_name(f".{target.name}.partial{os.getpid()}")
        try:
            with self._request("GET", f"/images/{image_id}/file", timeout=600) as response, open(partial, "wb") as out:
                shutil.copyfileobj(response, out, 1024 * 1024)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)

    def upload_snapshot(self, image_id: str, project_id: str, source: Path) -> None:
        size = source.stat().st_size
        url = f"/images/{image_id}/file?project_id={urllib.parse.quote(project_id)}"
        request = urllib.request.Request(self.base + url, data=open(source, "rb"), method="PUT")  # noqa: SIM115
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
