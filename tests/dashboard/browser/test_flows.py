"""The JS flows in a real Chromium: login, a launch that turns ACTIVE by itself (SSE), a CSRF
refusal, keyboard-only launch, dark mode; a screenshot of each main page."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from gureum.testing import RunningCloud

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tenant_network(cloud: RunningCloud) -> str:
    """The admin project's one network, so the launch page picks it by itself."""
    name = "web-net"
    existing = cloud.openstack_json("network", "list", "--name", name)
    if not existing:
        cloud.openstack("network", "create", name)
        cloud.openstack("subnet", "create", "--network", name, "--subnet-range", "10.77.0.0/24", name + "-v4")
    return name


def log_in(page: Page, cloud: RunningCloud, wanted: str = "/dashboard/") -> None:
    page.goto(wanted)
    expect(page).to_have_url(re.compile(r"/dashboard/login"))
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(cloud.admin_password)
    page.get_by_role("button", name="Log in").click()


def test_login_cookie_is_out_of_reach_of_scripts(page: Page, cloud: RunningCloud, shots: Path) -> None:
    page.goto("/dashboard/login")
    page.screenshot(path=str(shots / "login.png"))
    log_in(page, cloud, "/dashboard/instances/")
    expect(page).to_have_url(re.compile(r"/dashboard/instances/$"))
    assert page.evaluate("document.cookie") == ""
    cookie = next(c for c in page.context.cookies() if c["name"] == "gureum_token")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/dashboard"


def test_launch_goes_active_by_itself(page: Page, cloud: RunningCloud, tenant_network: str, shots: Path) -> None:
    log_in(page, cloud)
    page.screenshot(path=str(shots / "overview.png"), full_page=True)
    page.get_by_role("link", name="Launch an instance").click()
    name = f"vm-{uuid.uuid4().hex[:6]}"
    page.get_by_label("Name").fill(name)
    expect(page.locator(".cli code")).to_contain_text(f"--network {tenant_network}")
    expect(page.locator(".cli code")).to_contain_text(name)  # the preview followed the typing
    page.screenshot(path=str(shots / "launch.png"), full_page=True)
    page.get_by_role("button", name="Launch", exact=True).click()
    expect(page).to_have_url(re.compile(r"/dashboard/instances/"))
    row = page.locator("tr", has=page.get_by_role("link", name=name, exact=True))
    # No reload: the row turns ACTIVE through the event stream (a marker proves the page stayed).
    page.evaluate("window.__stayed = true")
    expect(row.locator(".status")).to_have_text("ACTIVE", timeout=240_000)
    assert page.evaluate("window.__stayed") is True
    expect(page.locator("#live")).to_contain_text(name)
    page.screenshot(path=str(shots / "instances.png"), full_page=True)
    # Stop it from its row; it turns SHUTOFF by itself too.
    row.get_by_role("button", name=f"Stop {name}").click()
    expect(row.locator(".status")).to_have_text("SHUTOFF", timeout=120_000)


def test_a_forged_request_is_refused(page: Page, cloud: RunningCloud) -> None:
    log_in(page, cloud)
    status = page.evaluate("""async () => {
        const r = await fetch('/dashboard/instances/action', {method: 'POST',
            headers: {'Content-Type': 'application/x-www-form-urlencoded'}, body: 'action=delete&server_id=x'});
        return r.status; }""")
    assert status == 403


def test_keyboard_only_launch_in_dark_mode(browser, cloud: RunningCloud, tenant_network: str, shots: Path) -> None:
    context = browser.new_context(base_url=cloud.base_url, color_scheme="dark", viewport={"width": 1280, "height": 860})
    page = context.new_page()
    try:
        page.goto("/dashboard/login")
        # The login form's first field has focus; everything below is keys only.
        page.keyboard.type("admin")
        page.keyboard.press("Tab")
        page.keyboard.type(cloud.admin_password)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(15, 20, 25)"  # the dark theme from prefers-color-scheme
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
        page.goto("/dashboard/launch")
        name = f"kb-{uuid.uuid4().hex[:6]}"
        expect(page.get_by_label("Name")).to_be_focused()
        page.keyboard.type(name)
        page.keyboard.press("Enter")  # submits with every default
        expect(page).to_have_url(re.compile(r"/dashboard/instances/"))
        expect(page.get_by_role("link", name=name, exact=True)).to_be_visible()
        page.screenshot(path=str(shots / "instances-dark.png"), full_page=True)
        page.get_by_role("button", name="Light theme").press("Enter")
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
        # Clean up from the row's own button, by keyboard.
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name=f"Delete {name}").press("Enter")
        expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0, timeout=60_000)
    finally:
        context.close()


@pytest.fixture(scope="module")
def edge(cloud: RunningCloud, tenant_network: str) -> str:
    """An external network and a router from it to the tenant network, for floating IPs."""
    if not cloud.openstack_json("router", "list", "--name", "edge"):
        cloud.openstack("network", "create", "--external", "public")
        cloud.openstack("subnet", "create", "--network", "public", "--subnet-range", "198.51.100.0/24",
                        "--no-dhcp", "public-v4")
        cloud.openstack("router", "create", "--external-gateway", "public", "edge")
        cloud.openstack("router", "add", "subnet", "edge", tenant_network + "-v4")
    return "edge"


def test_associate_a_floating_ip_from_the_instance_row(page: Page, cloud: RunningCloud, edge: str) -> None:
    log_in(page, cloud, "/dashboard/instances/")
    row = page.locator("tbody tr").filter(has=page.locator(".status", has_text=re.compile("ACTIVE|SHUTOFF"))).first
    name = row.locator("th").inner_text().strip()
    row.get_by_role("link", name=f"Floating IP for {name}").click()
    expect(page.get_by_role("heading", name=f"Floating IP for {name}")).to_be_visible()
    expect(page.get_by_label("Floating IP")).to_contain_text("A new one from public")
    page.get_by_role("button", name="Associate").click()
    expect(page.locator("p.alert")).to_contain_text("now points at the instance")
    fresh = page.locator("tr", has=page.get_by_role("link", name=name, exact=True))
    expect(fresh.locator(".addr", has_text="floating")).to_contain_text("198.51.100.", timeout=30_000)


def test_topology_draws_and_links(page: Page, cloud: RunningCloud, edge: str, shots: Path) -> None:
    log_in(page, cloud, "/dashboard/topology/")
    svg = page.get_by_role("img", name="Network topology")
    expect(svg).to_be_visible()
    expect(svg.locator("a.router")).to_have_count(1)
    expect(svg.locator("a.net.external")).to_contain_text("public")
    page.screenshot(path=str(shots / "topology.png"), full_page=True)
    svg.locator("a.router").click()
    expect(page).to_have_url(re.compile(r"/dashboard/routers/#router-"))


def test_key_download_never_reaches_page_scripts(page: Page, cloud: RunningCloud, shots: Path) -> None:
    log_in(page, cloud, "/dashboard/keypairs/")
    name = f"key-{uuid.uuid4().hex[:6]}"
    page.get_by_label("Name").fill(name)
    with page.expect_download() as info:
        page.get_by_role("button", name="Create key pair").click()
    download = info.value
    assert download.suggested_filename == f"{name}.pem"
    assert Path(download.path()).read_text().startswith("-----BEGIN")
    page.goto("/dashboard/keypairs/")
    expect(page.get_by_role("rowheader", name=name)).to_be_visible()
    assert "BEGIN" not in page.content()
    page.screenshot(path=str(shots / "keypairs.png"), full_page=True)


def test_upload_an_object_with_progress(page: Page, cloud: RunningCloud, shots: Path) -> None:
    container = f"up-{uuid.uuid4().hex[:6]}"
    cloud.openstack("container", "create", container)
    log_in(page, cloud, f"/dashboard/containers/{container}/")
    payload = b"0123456789" * 300_000  # 3 MB: enough to see progress events
    page.locator("#f-object-file").set_input_files(
        {"name": "big notes.txt", "mimeType": "text/plain", "buffer": payload})
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("p.alert")).to_contain_text("Uploaded big notes.txt", timeout=60_000)
    expect(page.get_by_role("rowheader", name="big notes.txt")).to_be_visible()
    page.screenshot(path=str(shots / "objects.png"), full_page=True)
    shown = cloud.openstack_json("object", "show", container, "big notes.txt")
    assert int(shown["content-length"]) == len(payload) and shown["content-type"] == "text/plain"


@pytest.mark.parametrize("path", ["images", "networks", "routers", "floating-ips", "security-groups", "api-access",
                                  "admin", "admin/quotas"])
def test_screenshot_of_each_page(page: Page, cloud: RunningCloud, shots: Path, path: str) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, cloud, f"/dashboard/{path}/")
    expect(page.locator("h1")).to_be_visible()
    page.screenshot(path=str(shots / f"{path.replace('/', '-')}.png"), full_page=True)
    assert errors == []
