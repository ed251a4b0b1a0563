"""Overview, instances and launch through TestClient against a real in-process cloud (no agent:
the scheduler finds no host, so a launched instance ends ERROR with its fault)."""

from __future__ import annotations

import re
import time

import pytest
from starlette.testclient import TestClient

from tests.dashboard.conftest import ORIGIN, Site, csrf_of, login
from tests.dashboard.helpers import api, image, member, network, token


@pytest.fixture(scope="module")
def world(site: Site) -> dict[str, str]:
    client = site.client()
    tok = token(client, "admin", site.admin_password)
    made = {"tok": tok, "image": image(client, tok, "only-image"), "network": network(client, tok, "only-net")}
    api(client, tok, "POST", "/compute/v2.1/os-keypairs", json={"keypair": {"name": "only-key", "public_key":
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDyjL0cF7HQyzrMrn6vDZ/XQHtgQm5t7ZQm4OBM1XqUX test"}})
    return made


def selected(html: str, name: str) -> str:
    block = re.search(rf'<select id="f-{name}" name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert block, f"no select {name}"
    found = re.search(r'<option value="([^"]*)" selected>', block.group(1))
    return found.group(1) if found else ""


def wait_for(predicate, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_launch_fills_in_the_only_choices(admin: TestClient, world: dict[str, str]) -> None:
    page = admin.get("/dashboard/launch").text
    assert selected(page, "image") == world["image"]
    assert selected(page, "network") == world["network"]
    assert selected(page, "key_name") == "only-key"
    assert "t2.micro" in page and re.search(r'<option value="[^"]+" selected>t2\.micro', page)
    assert selected(page, "security_group") == "default"
    assert "<details>" in page  # advanced folded
    assert ("openstack server create --image only-image --flavor t2.micro --network only-net "
            "--key-name only-key --security-group default NAME") in page
    assert "Instances: 1 more" in page


def test_preview_follows_the_form(admin: TestClient, world: dict[str, str]) -> None:
    page = admin.get("/dashboard/launch").text
    flavor = selected(page, "flavor")
    answer = admin.post("/dashboard/launch/preview", headers={"Origin": ORIGIN, "X-CSRF-Token": csrf_of(page)},
                        data={"name": "web 1", "image": world["image"], "flavor": flavor, "count": "3"})
    assert answer.status_code == 200
    assert "--min 3 --max 3 &#39;web 1&#39;" in answer.text
    assert "Instances: 3 more" in answer.text


def test_form_errors_name_the_field_and_keep_the_input(admin: TestClient, world: dict[str, str]) -> None:
    page = admin.get("/dashboard/launch").text
    answer = admin.post("/dashboard/launch", headers={"Origin": ORIGIN}, data={
        "csrf_token": csrf_of(page), "name": "", "image": world["image"], "flavor": selected(page, "flavor"),
        "network": world["network"], "count": "0", "user_data": "#cloud-config\nkept: yes"})
    assert answer.status_code == 400
    assert 'id="e-name"' in answer.text and "Give the instance a name." in answer.text
    assert 'id="e-count"' in answer.text
    assert selected(answer.text, "image") == world["image"]
    assert "#cloud-config\nkept: yes" in answer.text
    assert "<details open>" in answer.text  # the folded field with the error is shown


def test_over_quota_is_refused_before_the_api(admin: TestClient, world: dict[str, str]) -> None:
    page = admin.get("/dashboard/launch").text
    big = re.search(r'<option value="([^"]+)"[^>]*>t2\.2xlarge', page).group(1)
    answer = admin.post("/dashboard/launch", headers={"Origin": ORIGIN}, data={
        "csrf_token": csrf_of(page), "name": "huge", "image": world["image"], "flavor": big, "count": "50"})
    assert answer.status_code == 400 and "go over the project&#39;s quota" in answer.text


def test_launch_then_error_with_fault_on_overview(site: Site, admin: TestClient, world: dict[str, str]) -> None:
    page = admin.get("/dashboard/launch").text
    answer = admin.post("/dashboard/launch", headers={"Origin": ORIGIN}, data={
        "csrf_token": csrf_of(page), "name": "lonely", "image": world["image"], "flavor": selected(page, "flavor"),
        "network": world["network"], "key_name": "only-key", "security_group": "default", "count": "1"})
    assert answer.status_code == 303, answer.text
    listing = admin.get(answer.headers["location"]).text
    assert ">lonely</a>" in listing
    # No host runs here: the instance fails, and the overview says why in words, first.
    def errored() -> str | None:
        text = admin.get("/dashboard/").text
        return text if "ERROR" in text else None

    overview = wait_for(errored)
    attention = overview.split('id="quotas"')[0]
    assert ">lonely</a>" in attention and "class=\"alert bad\"" in attention
    servers = api(admin, world["tok"], "GET", "/compute/v2.1/servers/detail", params={"name": "lonely"})["servers"]
    assert servers[0]["fault"]["message"] in attention
    assert "Instances</dt>" in overview and "<meter" in overview


def test_csrf_refusals_change_nothing(site: Site, admin: TestClient, world: dict[str, str]) -> None:
    listing = admin.get("/dashboard/instances/").text
    server_id = re.search(r'id="srv-([0-9a-f-]+)"', listing).group(1)
    good = csrf_of(listing)
    tries = [({"Origin": ORIGIN}, {}),  # no CSRF token
             ({"Origin": ORIGIN, "X-CSRF-Token": "0" * 64}, {}),  # a wrong one
             ({"Origin": "http://evil.example", "X-CSRF-Token": good}, {}),  # right token, wrong origin
             ({"X-CSRF-Token": good}, {})]  # no Origin and no Referer
    for headers, _ in tries:
        answer = admin.post("/dashboard/instances/action", headers=headers,
                            data={"action": "delete", "server_id": server_id})
        assert answer.status_code == 403, headers
        assert "nothing was changed" in answer.text
    assert api(admin, world["tok"], "GET", f"/compute/v2.1/servers/{server_id}")["server"]["id"] == server_id


def test_batch_delete_with_htmx(admin: TestClient, world: dict[str, str]) -> None:
    tok = world["tok"]
    ids = [api(admin, tok, "POST", "/compute/v2.1/servers", json={"server": {
        "name": f"batch-{i}", "imageRef": world["image"], "flavorRef": api(admin, tok, "GET", "/compute/v2.1/flavors")["flavors"][0]["id"], "networks": "none"}})["server"]["id"]
        for i in range(2)]
    listing = admin.get("/dashboard/instances/").text
    answer = admin.post("/dashboard/instances/action", headers={
        "Origin": ORIGIN, "X-CSRF-Token": csrf_of(listing), "HX-Request": "true"},
        data={"action": "delete", "server_id": ids})
    assert answer.status_code == 200
    assert "delete asked for 2 instances" in answer.text
    assert answer.text.lstrip().startswith("<tr")  # rows for the tbody, not a page
    wait_for(lambda: not any(s["id"] in ids for s in api(admin, tok, "GET", "/compute/v2.1/servers")["servers"]))


def test_an_action_the_api_refuses_is_shown(admin: TestClient, world: dict[str, str]) -> None:
    tok = world["tok"]
    server_id = api(admin, tok, "POST", "/compute/v2.1/servers", json={"server": {
        "name": "cannot-start", "imageRef": world["image"], "networks": "none",
        "flavorRef": api(admin, tok, "GET", "/compute/v2.1/flavors")["flavors"][0]["id"]}})["server"]["id"]
    wait_for(lambda: api(admin, tok, "GET", f"/compute/v2.1/servers/{server_id}")["server"]["status"] == "ERROR")
    listing = admin.get("/dashboard/instances/").text  # an ERROR server cannot start
    answer = admin.post("/dashboard/instances/action", headers={
        "Origin": ORIGIN, "X-CSRF-Token": csrf_of(listing), "HX-Request": "true"},
        data={"action": "start", "server_id": server_id})
    assert 'role="alert"' in answer.text and "alert bad" in answer.text


def test_another_projects_instances_are_never_listed(site: Site, admin: TestClient, world: dict[str, str]) -> None:
    user, password, _project = member(admin, world["tok"])
    other = site.client()
    login(other, user, password)
    assert ">lonely</a>" not in other.get("/dashboard/instances/").text
    assert ">lonely</a>" not in other.get("/dashboard/").text
    assert "No instances yet" in other.get("/dashboard/instances/").text
    # Admin pages are not for members (the nav has no Admin entry).
    assert "/dashboard/admin/" not in other.get("/dashboard/").text


def test_instance_page(admin: TestClient) -> None:
    listing = admin.get("/dashboard/instances/").text
    server_id = re.search(r'id="srv-([0-9a-f-]+)"', listing).group(1)
    page = admin.get(f"/dashboard/instances/{server_id}")
    assert page.status_code == 200
    assert f"openstack server show {server_id}" in page.text
    assert f'data-live-log="/dashboard/instances/{server_id}/log/events"' in page.text
    missing = admin.get("/dashboard/instances/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and "could not be found" in missing.text.lower()


def test_event_stream_is_bounded(admin: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from gureum.dashboard.pages import instances
    monkeypatch.setattr(instances, "STREAM_SECONDS", 1.5)
    with admin.stream("GET", "/dashboard/instances/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        body = "".join(stream.iter_text())
    assert body.startswith("retry: 2000") and ": tick" in body


def test_console_log_streams_its_lines_at_once_then_only_changes(admin: TestClient,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from gureum.dashboard.pages import instances
    monkeypatch.setattr(instances, "STREAM_SECONDS", 2.5)
    listing = admin.get("/dashboard/instances/").text
    server_id = re.search(r'id="srv-([0-9a-f-]+)"', listing).group(1)
    once = admin.get(f"/dashboard/instances/{server_id}/log")
    assert once.status_code == 200 and '<pre class="console-log"' in once.text
    with admin.stream("GET", f"/dashboard/instances/{server_id}/log/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        body = "".join(stream.iter_text())
    events = [block for block in body.split("\n\n") if block.startswith("event: log")]
    # The log came at once; with nothing new in 2.5 s, the later polls sent only ticks.
    assert len(events) == 1 and ": tick" in body, body[:500]
    missing = "00000000-0000-0000-0000-000000000000"
    with admin.stream("GET", f"/dashboard/instances/{missing}/log/events") as stream:
        body = "".join(stream.iter_text())
    assert "event: log" in body and "could not be found" in body.lower()


def test_the_list_pages_with_the_apis_marker(admin: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from gureum.dashboard.pages import instances
    monkeypatch.setattr(instances, "PAGE_SIZE", 1)
    first = admin.get("/dashboard/instances/").text
    assert first.count('<tr id="srv-') == 1
    marker = re.search(r'href="/dashboard/instances/\?marker=([0-9a-f-]+)">Next page', first).group(1)
    second = admin.get(f"/dashboard/instances/?marker={marker}").text
    assert second.count('<tr id="srv-') == 1 and f'id="srv-{marker}"' not in second
    assert "First page" in second
