"""Log in and out: the cookie, refusals that say nothing, expiry that keeps the wanted page."""

from __future__ import annotations

from urllib.parse import quote

from tests.dashboard.conftest import ORIGIN, Site, csrf_of, login
from tests.dashboard.helpers import api, member, token

REFUSED = "The user name or password is not right, or the account cannot log in now."


def test_cookie_is_httponly_strict_and_scoped(site: Site) -> None:
    client = site.client()
    answer = client.post("/dashboard/login", data={"username": "admin", "password": site.admin_password,
                                                   "next": "/dashboard/instances/"}, headers={"Origin": ORIGIN})
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/instances/"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie
    assert "Max-Age=" in cookie
    # The API mounts never read the cookie: it is not a token there.
    raw = cookie.split(";")[0].split("=", 1)[1]
    assert client.get("/compute/v2.1/servers", cookies={"gureum_token": raw}).status_code == 401


def test_wrong_password_and_locked_account_look_the_same(site: Site) -> None:
    client = site.client()
    admin_tok = token(client, "admin", site.admin_password)
    user, password, _project = member(client, admin_tok)
    wrong = client.post("/dashboard/login", data={"username": user, "password": "nope"}, headers={"Origin": ORIGIN})
    user_id = api(client, admin_tok, "GET", "/identity/v3/users", params={"name": user})["users"][0]["id"]
    api(client, admin_tok, "PATCH", f"/identity/v3/users/{user_id}", json={"user": {"enabled": False}})
    disabled = client.post("/dashboard/login", data={"username": user, "password": password},
                           headers={"Origin": ORIGIN})
    unknown = client.post("/dashboard/login", data={"username": "nobody-here", "password": "x"},
                          headers={"Origin": ORIGIN})
    for answer in (wrong, disabled, unknown):
        assert answer.status_code == 401
        assert REFUSED in answer.text
        assert 'value="nope"' not in answer.text and password not in answer.text
    assert f'value="{user}"' in wrong.text  # what the user typed stays, but never the password


def test_empty_fields_are_named(site: Site) -> None:
    answer = site.client().post("/dashboard/login", data={"username": "", "password": "x"}, headers={"Origin": ORIGIN})
    assert answer.status_code == 400
    assert 'id="e-username"' in answer.text and "Enter your user name" in answer.text


def test_login_from_another_origin_is_refused(site: Site) -> None:
    answer = site.client().post("/dashboard/login", data={"username": "admin", "password": site.admin_password},
                                headers={"Origin": "http://evil.example"})
    assert answer.status_code == 403
    assert "set-cookie" not in answer.headers


def test_expired_token_sends_to_login_and_keeps_the_page(site: Site) -> None:
    client = site.client()
    client.cookies.set("gureum_token", "gAAAAAB-not-a-token", path="/dashboard")
    answer = client.get("/dashboard/instances/?status=ERROR")
    assert answer.status_code == 303
    wanted = quote("/dashboard/instances/?status=ERROR", safe="")
    assert answer.headers["location"] == f"/dashboard/login?next={wanted}&expired=1"
    page = client.get(answer.headers["location"])
    assert "Your session ended" in page.text
    assert 'name="next" value="/dashboard/instances/?status=ERROR"' in page.text
    # htmx requests are told to load the login page, not to swap it into a row.
    assert client.get("/dashboard/instances/", headers={"HX-Request": "true"}).headers["hx-redirect"].startswith(
        "/dashboard/login?next=")


def test_next_is_never_an_open_redirect(site: Site) -> None:
    client = site.client()
    answer = client.post("/dashboard/login", data={"username": "admin", "password": site.admin_password,
                                                   "next": "//evil.example/x"}, headers={"Origin": ORIGIN})
    assert answer.headers["location"] == "/dashboard/"


def test_logout_revokes_the_token(site: Site) -> None:
    client = site.client()
    login(client, "admin", site.admin_password)
    raw = client.cookies.get("gureum_token")
    page = client.get("/dashboard/")
    assert client.post("/dashboard/logout", data={}, headers={"Origin": ORIGIN}).status_code == 403
    answer = client.post("/dashboard/logout", data={"csrf_token": csrf_of(page.text)}, headers={"Origin": ORIGIN})
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/login"
    assert client.get("/identity/v3/auth/tokens", headers={"X-Auth-Token": token(
        client, "admin", site.admin_password), "X-Subject-Token": raw}).status_code == 404


def test_project_picker_only_with_a_choice(site: Site) -> None:
    client = site.client()
    admin_tok = token(client, "admin", site.admin_password)
    user, password, project = member(client, admin_tok)
    login(client, user, password)  # one project: straight in
    assert f">{project}</a>" in client.get("/dashboard/").text
    second = api(client, admin_tok, "POST", "/identity/v3/projects", json={"project": {
        "name": project + "-b", "domain_id": "default"}})["project"]
    user_id = api(client, admin_tok, "GET", "/identity/v3/users", params={"name": user})["users"][0]["id"]
    role = api(client, admin_tok, "GET", "/identity/v3/roles", params={"name": "member"})["roles"][0]["id"]
    client.put(f"/identity/v3/projects/{second['id']}/users/{user_id}/roles/{role}",
               headers={"X-Auth-Token": admin_tok})
    fresh = site.client()
    answer = fresh.post("/dashboard/login", data={"username": user, "password": password},
                        headers={"Origin": ORIGIN})
    assert answer.headers["location"].startswith("/dashboard/projects/")
    picker = fresh.get(answer.headers["location"])
    assert project in picker.text and second["name"] in picker.text
    chosen = fresh.post("/dashboard/projects/", data={"project_id": second["id"], "next": "/dashboard/",
                                                      "csrf_token": csrf_of(picker.text)}, headers={"Origin": ORIGIN})
    assert chosen.status_code == 303
    assert f">{second['name']}</a>" in fresh.get("/dashboard/").text
