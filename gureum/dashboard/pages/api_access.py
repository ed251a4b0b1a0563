"""API access: the endpoints, clouds.yaml and openrc for this user and project, and
application credentials (the secret is shown once, on the page that made it)."""

from __future__ import annotations

import shlex
from typing import Any

import yaml
from starlette.responses import Response

from gureum.dashboard.session import own_origin
from gureum.dashboard.web import Page, back, page


def auth_block(p: Page) -> dict[str, Any]:
    user, project = p.viewer.user, p.viewer.project or {}
    return {"auth_url": f"{own_origin(p.request)}/identity/v3", "username": user["name"],
            "project_name": project.get("name", ""),
            "user_domain_name": user.get("domain", {}).get("name", "Default"),
            "project_domain_name": project.get("domain", {}).get("name", "Default")}


def endpoints(p: Page) -> list[tuple[str, str]]:
    rows = []
    for entry in p.viewer.catalog:
        for endpoint in entry.get("endpoints", []):
            if endpoint.get("interface") == "public":
                rows.append((entry["type"], endpoint["url"]))
    return sorted(rows)


@page
async def api_access(p: Page) -> Response:
    creds = await p.api.get_json(f"/identity/v3/users/{p.viewer.user['id']}/application_credentials",
                                 "Listing application credentials")
    return p.render("api_access.html", title="API access", endpoints=endpoints(p),
                    creds=creds["application_credentials"], notice=p.request.query_params.get("notice"),
                    made=None, errors={}, form={})


def attachment(text: str, filename: str, media_type: str) -> Response:
    return Response(text, media_type=media_type, headers={
        "content-disposition": f'attachment; filename="{filename}"', "cache-control": "no-store"})


@page
async def clouds_yaml(p: Page) -> Response:
    auth = auth_block(p)
    data = {"clouds": {"gureum": {"auth": auth, "region_name": "RegionOne", "interface": "public",
                                  "identity_api_version": 3}}}
    text = ("# The password is not written here: add `password:` under auth, or let the client ask.\n"
            + yaml.safe_dump(data, default_flow_style=False, sort_keys=False))
    return attachment(text, "clouds.yaml", "application/x-yaml")


@page
async def openrc(p: Page) -> Response:
    auth = auth_block(p)
    values = {"OS_AUTH_URL": auth["auth_url"], "OS_USERNAME": auth["username"],
              "OS_PROJECT_NAME": auth["project_name"], "OS_USER_DOMAIN_NAME": auth["user_domain_name"],
              "OS_PROJECT_DOMAIN_NAME": auth["project_domain_name"], "OS_IDENTITY_API_VERSION": "3",
              "OS_REGION_NAME": "RegionOne", "OS_INTERFACE": "public"}
    lines = ["# Source this file: . ./openrc.sh (it asks for your password)"]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in values.items()]
    lines += ['printf "Password for %s: " "$OS_USERNAME"; read -rs OS_PASSWORD; echo; export OS_PASSWORD']
    return attachment("\n".join(lines) + "\n", f"{auth['project_name']}-openrc.sh", "text/x-shellscript")


@page
async def create_credential(p: Page) -> Response:
    form = await p.form()
    name = str(form.get("name", "")).strip()
    values = {"name": name, "expires_at": str(form.get("expires_at", "")).strip(),
              "description": str(form.get("description", ""))}
    creds_path = f"/identity/v3/users/{p.viewer.user['id']}/application_credentials"
    errors: dict[str, str] = {}
    made = None
    if not name:
        errors["name"] = "Give the credential a name."
    else:
        body: dict[str, Any] = {"name": name, "description": values["description"]}
        if values["expires_at"]:
            body["expires_at"] = values["expires_at"] + ("T23:59:59" if len(values["expires_at"]) == 10 else "")
        answer = await p.api.call("POST", creds_path, json_body={"application_credential": body})
        if answer.ok:
            made = answer.json()["application_credential"]
        else:
            errors["expires_at" if "expire" in answer.error_message.lower() else "name"] = answer.error_message
    creds = await p.api.get_json(creds_path, "Listing application credentials")
    return p.render("api_access.html", status=400 if errors else 201, title="API access", endpoints=endpoints(p),
                    creds=creds["application_credentials"], made=made, errors=errors,
                    form=values if errors else {}, auth_url=auth_block(p)["auth_url"], notice=None)


@page
async def delete_credential(p: Page) -> Response:
    answer = await p.api.call("DELETE", f"/identity/v3/users/{p.viewer.user['id']}/application_credentials/"
                                        f"{p.request.path_params['cred_id']}")
    return back("/api-access/", "Credential deleted" if answer.ok else answer.error_message)
