"""Instances: the list with live status, the actions (one or a batch), one instance's page."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from gureum.dashboard.client import ApiClient, ApiFailed
from gureum.dashboard.session import PREFIX, client_for, viewer_of, to_login
from gureum.dashboard.web import Page, page, templates

ACTIONS: dict[str, tuple[str, Any]] = {
    "stop": ("os-stop", None),
    "start": ("os-start", None),
    "reboot": ("reboot", {"type": "SOFT"}),
    "hard-reboot": ("reboot", {"type": "HARD"}),
}
# An open stream is bounded (uvicorn is HTTP/1.1: a browser allows about 6 per origin);
# EventSource reconnects by itself, and the page closes it while hidden.
STREAM_SECONDS = 300
POLL_SECONDS = 1.0


# A page of the list, as Horizon pages by 20: the API's own limit and marker, newest first.
PAGE_SIZE = 50


async def list_servers(api: ApiClient, marker: str | None = None) -> tuple[list[dict[str, Any]], dict[str, str]]:
    query = {"limit": str(PAGE_SIZE + 1)}
    if marker:
        query["marker"] = marker
    servers, images = await api.gather(
        api.get_json("/compute/v2.1/servers/detail", "Listing instances", **query),
        api.call("GET", "/image/v2/images", query={"limit": "1000"}))
    names = {i["id"]: i.get("name") or i["id"] for i in images.json().get("images", [])} if images.ok else {}
    return servers["servers"], names


def page_of(servers: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
    """The rows to show and the marker of the next page (None on the last page)."""
    if len(servers) > PAGE_SIZE:
        return servers[:PAGE_SIZE], servers[PAGE_SIZE - 1]["id"]
    return servers, None


def row_html(server: dict[str, Any], images: dict[str, str]) -> str:
    return templates.get_template("_server_row.html").render(s=server, images=images, prefix=PREFIX)


@page
async def instances(p: Page) -> Response:
    marker = p.request.query_params.get("marker")
    found, images = await list_servers(p.api, marker)
    servers, next_marker = page_of(found)
    if p.request.query_params.get("fragment") == "rows":
        return p.render("_server_rows.html", servers=servers, images=images)
    return p.render("instances.html", title="Instances", servers=servers, images=images, marker=marker or "",
                    next_marker=next_marker, notice=p.request.query_params.get("notice"))


def fingerprint(server: dict[str, Any]) -> str:
    keys = ("name", "status", "OS-EXT-STS:task_state", "OS-EXT-STS:power_state", "addresses", "fault")
    return hashlib.sha1(json.dumps([server.get(k) for k in keys], sort_keys=True).encode()).hexdigest()


def sse(event: str, data: str) -> str:
    return f"event: {event}\n" + "".join(f"data: {line}\n" for line in data.splitlines() or [""]) + "\n"


async def instance_events(request: Request) -> Response:
    """Server-sent events: a rendered row for every instance that changed, and the gone."""
    viewer = await viewer_of(request)
    if viewer is None:
        return to_login(request, expired=True)
    api = client_for(request, viewer.token)
    marker = request.query_params.get("marker") or None

    async def stream() -> AsyncIterator[str]:
        seen: dict[str, str] = {}
        first = True
        deadline = time.monotonic() + STREAM_SECONDS
        yield "retry: 2000\n\n"
        while time.monotonic() < deadline:
            try:
                found, images = await list_servers(api, marker)
                servers = page_of(found)[0]
            except ApiFailed as failed:
                yield sse("ended", "expired" if failed.status == 401 else failed.response.error_message)
                return
            now = {s["id"]: fingerprint(s) for s in servers}
            if not first:
                for s in servers:
                    if seen.get(s["id"]) != now[s["id"]]:
                        yield sse("row", row_html(s, images))
                for gone in seen.keys() - now.keys():
                    yield sse("gone", f"srv-{gone}")
            seen, first = now, False
            yield ": tick\n\n"
            await asyncio.sleep(POLL_SECONDS)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})


async def act(api: ApiClient, server_id: str, action: str) -> str | None:
    """One action on one server; the API's message when it refused."""
    if action == "delete":
        answer = await api.call("DELETE", f"/compute/v2.1/servers/{server_id}")
    elif action in ACTIONS:
        name, body = ACTIONS[action]
        answer = await api.call("POST", f"/compute/v2.1/servers/{server_id}/action", json_body={name: body})
    else:
        return f"Unknown action {action!r}."
    if answer.status == 401:
        raise ApiFailed(answer, "Acting on an instance")
    return None if answer.ok else answer.error_message


@page
async def instance_action(p: Page) -> Response:
    form = await p.form()
    action = str(form.get("action", ""))
    ids = form.get("server_id", [])
    ids = [ids] if isinstance(ids, str) else list(ids)
    if not ids:
        problems = ["Choose at least one instance (field 'server_id')."]
    else:
        results = await p.api.gather(*(act(p.api, sid, action) for sid in ids))
        problems = [msg for msg in results if msg]
    if not p.is_htmx:
        notice = "; ".join(problems) if problems else f"{action} asked for {len(ids)} instance(s)"
        return RedirectResponse(f"{PREFIX}/instances/?notice={notice}", status_code=303)
    servers, images = await list_servers(p.api)
    servers = page_of(servers)[0]
    return p.render("_server_rows.html", servers=servers, images=images, problems=problems,
                    announce=f"{action} asked for {len(ids)} instance{'s' if len(ids) != 1 else ''}" if not problems
                    else "; ".join(problems))


@page
async def instance_detail(p: Page) -> Response:
    server_id = p.request.path_params["server_id"]
    server, actions, flavors = await p.api.gather(
        p.api.get_json(f"/compute/v2.1/servers/{server_id}", "Showing the instance"),
        p.api.call("GET", f"/compute/v2.1/servers/{server_id}/os-instance-actions"),
        p.api.call("GET", "/compute/v2.1/flavors/detail"))
    return p.render("instance.html", title=server["server"]["name"], s=server["server"],
                    actions=actions.json().get("instanceActions", []) if actions.ok else [],
                    flavors=flavors.json().get("flavors", []) if flavors.ok else [],
                    notice=p.request.query_params.get("notice"))


CONSOLE_LINES = 200


async def console_text(api: ApiClient, server_id: str) -> str:
    """The last lines of the console log, as `openstack console log show --lines 200` reads them."""
    answer = await api.call("POST", f"/compute/v2.1/servers/{server_id}/action",
                            json_body={"os-getConsoleOutput": {"length": CONSOLE_LINES}})
    if answer.status == 401:
        raise ApiFailed(answer, "Reading the console log")
    return answer.json().get("output", "") if answer.ok else f"(no console log: {answer.error_message})"


@page
async def console_log(p: Page) -> Response:
    """The console log once (the page's fallback when server-sent events do not get through)."""
    return p.render("_console_log.html", text=await console_text(p.api, p.request.path_params["server_id"]))


async def console_log_events(request: Request) -> Response:
    """Server-sent events: the console log's last lines at once, then again whenever they change."""
    viewer = await viewer_of(request)
    if viewer is None:
        return to_login(request, expired=True)
    api = client_for(request, viewer.token)
    server_id = request.path_params["server_id"]

    async def stream() -> AsyncIterator[str]:
        shown: str | None = None
        deadline = time.monotonic() + STREAM_SECONDS
        yield "retry: 2000\n\n"
        while time.monotonic() < deadline:
            try:
                text = await console_text(api, server_id)
            except ApiFailed:
                yield sse("ended", "expired")
                return
            if text != shown:
                yield sse("log", text)  # plain text: the page sets it as text, never as HTML
                shown = text
            else:
                yield ": tick\n\n"
            await asyncio.sleep(POLL_SECONDS)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})


@page
async def server_change(p: Page) -> Response:
    """Resize, confirm or revert a resize, snapshot: the actions that take an argument."""
    server_id = p.request.path_params["server_id"]
    form = await p.form()
    kind = str(form.get("kind", ""))
    if kind == "snapshot":
        name = str(form.get("name", "")).strip()
        if not name:
            return RedirectResponse(f"{PREFIX}/instances/{server_id}?notice=Give the snapshot a name (field 'name').",
                                    status_code=303)
        body: dict[str, Any] = {"createImage": {"name": name}}
    elif kind == "resize":
        body = {"resize": {"flavorRef": str(form.get("flavor", ""))}}
    elif kind in ("confirmResize", "revertResize"):
        body = {kind: None}
    else:
        body = {}
    answer = await p.api.call("POST", f"/compute/v2.1/servers/{server_id}/action", json_body=body)
    notice = f"{kind} asked" if answer.ok else answer.error_message
    return RedirectResponse(f"{PREFIX}/instances/{server_id}?notice={notice}", status_code=303)
