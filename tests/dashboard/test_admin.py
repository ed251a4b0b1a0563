"""Admin pages through TestClient: what the admin APIs answer, shown; a member is refused by
the APIs themselves (the dashboard adds no policy of its own)."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

from tests.dashboard.conftest import ORIGIN, Site, csrf_of, login
from tests.dashboard.helpers import api, member, token


def post(client: TestClient, path: str, page: str, **data: str):  # type: ignore[no-untyped-def]
    return client.post(path, headers={"Origin": ORIGIN}, data={"csrf_token": csrf_of(client.get(page).text), **data})


def test_hosts_page_without_hosts(admin: TestClient) -> None:
    page = admin.get("/dashboard/admin/")
    assert page.status_code == 200 and "No compute host has registered" in page.text
    assert "openstack hypervisor list --long" in page.text


def test_flavor_create_and_delete(admin: TestClient) -> None:
    made = post(admin, "/dashboard/admin/flavors/", "/dashboard/admin/flavors/", name="m1.tiny", vcpus="1",
                ram="256", disk="1")
    assert made.status_code == 303
    listing = admin.get("/dashboard/admin/flavors/").text
    assert re.search(r'<th scope="row">m1.tiny</th><td>1</td><td>256 MiB</td>', listing)
    bad = post(admin, "/dashboard/admin/flavors/", "/dashboard/admin/flavors/", name="x", vcpus="one", ram="1",
               disk="1")
    assert "field%20%27vcpus%27" in bad.headers["location"]
    flavor_id = re.search(r'action="/dashboard/admin/flavors/([^/]+)/delete"[^>]*>.{0,200}m1.tiny', listing, re.S)
    assert flavor_id


def test_project_user_and_role(admin: TestClient, site: Site) -> None:
    post(admin, "/dashboard/admin/identity/projects", "/dashboard/admin/identity/", name="team-a")
    page = admin.get("/dashboard/admin/identity/").text
    project_id = re.search(r'<option value="([0-9a-f]+)">team-a</option>', page).group(1)
    member_role = re.search(r'<option value="([0-9a-f]+)" selected>member</option>', page).group(1)
    made = post(admin, "/dashboard/admin/identity/users", "/dashboard/admin/identity/", name="alice",
                password="s3cret-pass", project=project_id, role=member_role)
    assert made.status_code == 303 and "Made%20user%20alice" in made.headers["location"]
    listing = admin.get("/dashboard/admin/identity/").text
    assert re.search(r'<th scope="row">alice</th><td>yes</td><td>member on team-a</td>', listing)
    alice = site.client()
    login(alice, "alice", "s3cret-pass")
    assert ">team-a</a>" in alice.get("/dashboard/").text


def test_quotas_edit(admin: TestClient, site: Site) -> None:
    tok = token(admin, "admin", site.admin_password)
    project = api(admin, tok, "GET", "/identity/v3/projects", params={"name": "admin"})["projects"][0]["id"]
    saved = post(admin, "/dashboard/admin/quotas/", f"/dashboard/admin/quotas/?project={project}", project=project,
                 instances="12", router="7")
    assert saved.status_code == 303
    page = admin.get(f"/dashboard/admin/quotas/?project={project}").text
    assert 'name="instances" value="12"' in page and 'name="router" value="7"' in page
    bad = post(admin, "/dashboard/admin/quotas/", f"/dashboard/admin/quotas/?project={project}", project=project,
               cores="many")
    assert "cores" in bad.headers["location"]
    post(admin, "/dashboard/admin/quotas/", f"/dashboard/admin/quotas/?project={project}", project=project,
         instances="10", router="10")


def test_network_agents_page(admin: TestClient) -> None:
    page = admin.get("/dashboard/admin/agents/")
    assert page.status_code == 200 and "openstack network agent list" in page.text


def test_members_are_refused_by_the_apis(admin: TestClient, site: Site) -> None:
    tok = token(admin, "admin", site.admin_password)
    user, password, _project = member(admin, tok)
    other = site.client()
    login(other, user, password)
    for path in ("/dashboard/admin/", "/dashboard/admin/identity/"):
        answer = other.get(path)
        assert answer.status_code == 403, path
        assert 'role="alert"' in answer.text
