"""Serial consoles end to end on a real guest: the agent dials out, the controller splices.
Through `openstack console url show --serial` plus a plain websocket, and through xterm.js."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from websockets.sync.client import connect

from gureum.testing import RunningCloud
from tests.dashboard.browser.test_flows import log_in

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def running_server(cloud: RunningCloud) -> str:
    name = f"con-{uuid.uuid4().hex[:6]}"
    cloud.openstack("server", "create", "--image", "gureum-guest", "--flavor", "t2.nano", "--nic", "none",
                    "--wait", name, timeout=300)
    yield name
    cloud.openstack("server", "delete", name, check=False)


def ask(ws, command: str, answer: str, timeout: float = 150.0) -> str:  # type: ignore[no-untyped-def]
    """Type a command until its answer comes back (the guest may still be booting)."""
    seen = b""
    deadline = time.monotonic() + timeout
    next_try = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() >= next_try:
            ws.send(f"{command}\r".encode())
            next_try = time.monotonic() + 8
        try:
            seen += ws.recv(timeout=1)
        except TimeoutError:
            continue
        if answer.encode() in seen:
            return seen.decode(errors="replace")
    raise AssertionError(f"no {answer!r} on the console; saw: {seen[-2000:]!r}")


def test_cli_serial_url_reaches_the_guest(cloud: RunningCloud, running_server: str) -> None:
    shown = cloud.openstack_json("console", "url", "show", "--serial", running_server)
    assert shown["type"] == "serial" and shown["protocol"] == "serial"
    assert re.fullmatch(rf"ws://127\.0\.0\.1:{cloud.port}/console/serial\?token=[\w-]+", shown["url"])
    with connect(shown["url"], subprotocols=["binary"], open_timeout=30) as ws:
        ask(ws, "echo cli-$((6*7))", "cli-42")
    # The token was for one viewer.
    with pytest.raises(Exception, match="403"):
        connect(shown["url"], open_timeout=10)
    refused = cloud.openstack("console", "url", "show", "--novnc", running_server, check=False)
    assert refused.returncode != 0 and "serial" in refused.stderr


def test_type_into_the_serial_console_in_the_page(page: Page, cloud: RunningCloud, running_server: str,
                                                  shots: Path) -> None:
    log_in(page, cloud, "/dashboard/instances/")
    page.get_by_role("link", name=running_server, exact=True).click()
    page.get_by_role("link", name="Serial console").click()
    expect(page.locator("#console-status")).to_contain_text("Connected", timeout=45_000)
    screen = "() => { const b = window.gureumTerminal.buffer.active; let t = '';" \
             " for (let i = 0; i < b.length; i++) t += b.getLine(i).translateToString(true) + '\\n'; return t; }"
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        page.locator("#terminal").click()
        page.keyboard.type("echo page-$((6*7))\n")
        try:
            page.wait_for_function(f"({screen})().includes('page-42')", timeout=8_000)
            break
        except Exception:  # noqa: BLE001 - the guest's shell may not be up yet
            continue
    assert "page-42" in page.evaluate(screen)
    page.screenshot(path=str(shots / "console.png"), full_page=True)


def test_the_console_log_follows_the_guest_without_a_reload(page: Page, cloud: RunningCloud,
                                                             running_server: str) -> None:
    log_in(page, cloud, "/dashboard/instances/")
    page.get_by_role("link", name=running_server, exact=True).click()
    log = page.locator("#console-log pre")
    expect(log).not_to_contain_text("(reading the console log)", timeout=30_000)
    url = page.url
    # What the guest prints now (through the CLI's serial console) reaches the open page by itself.
    shown = cloud.openstack_json("console", "url", "show", "--serial", running_server)
    with connect(shown["url"], subprotocols=["binary"], open_timeout=30) as ws:
        ask(ws, "echo live-$((6*7))", "live-42")
    expect(log).to_contain_text("live-42", timeout=60_000)
    assert page.url == url


def test_console_socket_refuses_another_origin(cloud: RunningCloud, running_server: str) -> None:
    server = cloud.openstack_json("server", "show", running_server)
    url = f"ws://127.0.0.1:{cloud.port}/dashboard/instances/{server['id']}/console/ws?csrf=x"
    with pytest.raises(Exception, match="403"):  # refused before the handshake completes
        connect(url, origin="http://evil.example", open_timeout=10)
