"""What every page shares: templates, the viewer, the CSRF gate, error pages."""

from __future__ import annotations

import functools
import shlex
from collections.abc import Awaitable, Callable
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gureum.dashboard.client import ApiClient, ApiFailed
from gureum.dashboard.session import CSRF_FIELD, CSRF_HEADER, PREFIX, Viewer, client_for, csrf_ok, to_login, viewer_of

templates = Environment(loader=PackageLoader("gureum.dashboard", "templates"), autoescape=select_autoescape(),
                        enable_async=False, trim_blocks=True, lstrip_blocks=True)
templates.globals["prefix"] = PREFIX
templates.filters["shell"] = lambda words: " ".join(shlex.quote(str(w)) for w in words)

# Status words and the tone (colour) each shows with; the word is always shown too.
STATUS_TONES = {
    "ACTIVE": "ok", "available": "ok", "in-use": "ok", "UP": "ok", "up": "ok", "DOWN": "bad", "down": "bad",
    "ERROR": "bad", "error": "bad", "killed": "bad", "SHUTOFF": "off", "SUSPENDED": "off", "PAUSED": "off",
    "STOPPED": "off", "deactivated": "off", "BUILD": "busy", "REBOOT": "busy", "HARD_REBOOT": "busy",
    "RESIZE": "busy", "VERIFY_RESIZE": "busy", "DELETED": "off", "queued": "busy", "saving": "busy",
    "importing": "busy", "uploading": "busy", "creating": "busy", "deleting": "busy", "active": "ok",
}
templates.globals["tone"] = lambda status: STATUS_TONES.get(str(status), "busy" if str(status).isupper() else "off")


def render(request: Request, name: str, viewer: Viewer | None, status: int = 200, **context: Any) -> HTMLResponse:
    html = templates.get_template(name).render(request=request, viewer=viewer, path=request.url.path, **context)
    return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})


class Page:
    """What a page handler gets: the request, the viewer and a client with their token."""

    def __init__(self, request: Request, viewer: Viewer) -> None:
        self.request = request
        self.viewer = viewer
        self.api: ApiClient = client_for(request, viewer.token)

    def render(self, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return render(self.request, name, self.viewer, status, **context)

    @property
    def project_id(self) -> str:
        return (self.viewer.project or {}).get("id", "")

    async def form(self) -> dict[str, Any]:
        form = await self.request.form()
        return {key: (values if len(values := form.getlist(key)) > 1 else values[0]) for key in form.keys()}

    @property
    def is_htmx(self) -> bool:
        return bool(self.request.headers.get("hx-request"))


Handler = Callable[[Page], Awaitable[Response]]


def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A dashboard route: logged in, CSRF-checked on changes, API errors shown in words."""

    @functools.wraps(handler)
    async def route(request: Request) -> Response:
        viewer = await viewer_of(request)
        if viewer is None:
            if request.method != "GET":
                # A change with no valid session changes nothing; the page can be opened again.
                if not csrf_ok(request, None, None):
                    return refused(request)
            return to_login(request, expired=bool(request.cookies))
        if request.method not in ("GET", "HEAD"):
            sent = request.headers.get(CSRF_HEADER)
            if sent is None and request.headers.get("content-type", "").startswith(
                    ("application/x-www-form-urlencoded", "multipart/form-data")):
                sent = (await request.form()).get(CSRF_FIELD)  # type: ignore[assignment]
            if not csrf_ok(request, viewer, sent if isinstance(sent, str) else None):
                return refused(request, viewer)
        try:
            return await handler(Page(request, viewer))
        except ApiFailed as failed:
            if failed.status == 401:
                return to_login(request, expired=True)
            return render(request, "error.html", viewer, status=failed.status if failed.status >= 400 else 502,
                          what=failed.what, message=failed.response.error_message)

    return route


def refused(request: Request, viewer: Viewer | None = None) -> HTMLResponse:
    return render(request, "error.html", viewer, status=403, what="Request refused",
                  message="This change did not come from a dashboard page of this site (cross-origin or no CSRF "
                          "token), so nothing was changed. Reload the page and try again.")


async def put_body_through(p: Page, path: str, content_type: str) -> Response:
    """A page script's upload: its request body goes on to the API's PUT `path` as it arrives.
    204 when the API took it, else the API's own words and status (shown beside the progress bar)."""
    headers = {"content-type": content_type}
    if p.request.headers.get("content-length"):
        headers["content-length"] = p.request.headers["content-length"]
    answer = await p.api.call("PUT", path, headers=headers, stream=p.request.stream().__aiter__())
    if answer.ok:
        return Response(status_code=204)
    return Response(answer.error_message, status_code=answer.status, media_type="text/plain")


def back(path: str, notice: str = "") -> Response:
    """After a change: the page again (POST-redirect-GET), with a notice of what happened."""
    from urllib.parse import quote  # noqa: PLC0415

    joiner = "&" if "?" in path else "?"
    return RedirectResponse(f"{PREFIX}{path}" + (f"{joiner}notice={quote(notice)}" if notice else ""),
                            status_code=303)


def api_field(message: str, fields: tuple[str, ...]) -> str:
    """The form field an API error message names ('Invalid input for field ...'), else 'form'."""
    lowered = message.lower()
    for name in fields:
        if f"'{name}'" in lowered or f" {name} " in f" {lowered} " or f"{name}:" in lowered:
            return name
    return "form"
