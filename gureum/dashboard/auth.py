"""Log in (password, then project scope), switch project, log out."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from gureum.dashboard.client import ApiClient
from gureum.dashboard.session import (PREFIX, clear_token_cookie, client_for, csrf_ok, safe_next, set_token_cookie,
                                      token_of, viewer_of)
from gureum.dashboard.web import Page, page, refused, render

# One message for a wrong password, an unknown user and a locked or disabled account:
# the page must not tell an attacker which one it was.
LOGIN_REFUSED = "The user name or password is not right, or the account cannot log in now."


async def login_form(request: Request) -> Response:
    return render(request, "login.html", None, next=safe_next(request.query_params.get("next")),
                  expired=bool(request.query_params.get("expired")), form={"domain": "Default"})


async def login(request: Request) -> Response:
    if not csrf_ok(request, None, None):
        return refused(request)
    form = await request.form()
    values = {key: str(form.get(key, "")) for key in ("username", "password", "domain", "next")}
    wanted = safe_next(values["next"])
    domain = values["domain"].strip() or "Default"
    if not values["username"].strip() or not values["password"]:
        field = "username" if not values["username"].strip() else "password"
        return render(request, "login.html", None, status=400, next=wanted, form=values,
                      errors={field: f"Enter your {'user name' if field == 'username' else 'password'}."})
    api = client_for(request, None)
    user = {"name": values["username"].strip(), "password": values["password"],
            "domain": {"name": domain} if domain.lower() != "default" else {"id": "default"}}
    answer = await api.call("POST", "/identity/v3/auth/tokens", query={"nocatalog": "1"},
                            json_body={"auth": {"identity": {"methods": ["password"], "password": {"user": user}}}})
    if answer.status != 201:
        values["password"] = ""
        return render(request, "login.html", None, status=401, next=wanted, form=values,
                      errors={"form": LOGIN_REFUSED})
    unscoped = answer.headers["x-subject-token"]
    projects = await projects_of(ApiClient(api.app, unscoped, request.scope))
    if len(projects) == 1:
        return await rescope(request, unscoped, projects[0]["id"], wanted)
    response: Response
    if not projects:
        response = render(request, "login.html", None, status=403, next=wanted, form=values,
                          errors={"form": "This account has no role on any project; ask an administrator."})
        return response
    response = RedirectResponse(f"{PREFIX}/projects/?next={wanted}", status_code=303)
    set_token_cookie(response, request, unscoped, answer.json()["token"].get("expires_at"))
    return response


async def projects_of(api: ApiClient) -> list[dict[str, Any]]:
    answer = await api.call("GET", "/identity/v3/auth/projects")
    if not answer.ok:
        return []
    return sorted((p for p in answer.json()["projects"] if p.get("enabled", True)), key=lambda p: p["name"])


async def rescope(request: Request, token: str, project_id: str, wanted: str) -> Response:
    api = client_for(request, token)
    answer = await api.call("POST", "/identity/v3/auth/tokens", query={"nocatalog": "1"}, json_body={"auth": {
        "identity": {"methods": ["token"], "token": {"id": token}}, "scope": {"project": {"id": project_id}}}})
    if answer.status != 201:
        return render(request, "login.html", None, status=401, next=wanted, form={"domain": "Default"},
                      errors={"form": LOGIN_REFUSED})
    response = RedirectResponse(wanted, status_code=303)
    set_token_cookie(response, request, answer.headers["x-subject-token"], answer.json()["token"].get("expires_at"))
    return response


@page
async def project_picker(p: Page) -> Response:
    projects = await projects_of(p.api)
    return p.render("projects.html", projects=projects, next=safe_next(p.request.query_params.get("next")))


@page
async def switch_project(p: Page) -> Response:
    form = await p.form()
    return await rescope(p.request, p.viewer.token, str(form.get("project_id", "")), safe_next(form.get("next")))


async def logout(request: Request) -> Response:
    viewer = await viewer_of(request)
    form = await request.form()
    if viewer is not None:
        sent = request.headers.get("x-csrf-token") or form.get("csrf_token")
        if not csrf_ok(request, viewer, sent if isinstance(sent, str) else None):
            return refused(request, viewer)
        await client_for(request, viewer.token).call(
            "DELETE", "/identity/v3/auth/tokens", headers={"x-subject-token": viewer.token})
    elif token_of(request) and not csrf_ok(request, None, None):
        return refused(request)
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    clear_token_cookie(response)
    return response
