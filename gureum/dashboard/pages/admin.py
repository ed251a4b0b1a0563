"""Admin pages: hosts (heartbeat, KVM or TCG, capacity), flavors, projects, users and roles,
quotas, network agents. The APIs decide who may see them; the nav shows them to admins."""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import Response

from gureum.dashboard.web import Page, back, page

QUOTA_KEYS = (("instances", "Instances"), ("cores", "vCPUs"), ("ram", "RAM (MiB)"), ("key_pairs", "Key pairs"))
NETWORK_QUOTA_KEYS = (("network", "Networks"), ("router", "Routers"), ("floatingip", "Floating IPs"),
                      ("port", "Ports"), ("security_group", "Security groups"))


@page
async def hosts(p: Page) -> Response:
    hypervisors, services = await p.api.gather(
        p.api.get_json("/compute/v2.1/os-hypervisors/detail", "Listing hosts"),
        p.api.get_json("/compute/v2.1/os-services", "Listing compute services", binary="nova-compute"))
    heartbeat = {s["host"]: s for s in services["services"]}
    rows = []
    for h in sorted(hypervisors["hypervisors"], key=lambda h: h["hypervisor_hostname"]):
        cpu = h.get("cpu_info") if isinstance(h.get("cpu_info"), dict) else {}
        service = heartbeat.get(h["hypervisor_hostname"], {})
        rows.append({**h, "accel": str(cpu.get("model", "")).upper() or "?", "heartbeat": service.get("updated_at"),
                     "forced_down": service.get("forced_down", False)})
    return p.render("admin_hosts.html", title="Hosts", hosts=rows)


@page
async def flavors(p: Page) -> Response:
    found = await p.api.get_json("/compute/v2.1/flavors/detail", "Listing flavors", is_public="None")
    return p.render("admin_flavors.html", title="Flavors", flavors=sorted(found["flavors"],
                    key=lambda f: (f["ram"], f["vcpus"], f["name"])), notice=p.request.query_params.get("notice"))


@page
async def create_flavor(p: Page) -> Response:
    form = await p.form()
    values = {k: str(form.get(k, "")).strip() for k in ("name", "vcpus", "ram", "disk")}
    bad = [k for k in ("vcpus", "ram", "disk") if not values[k].isdigit()]
    if not values["name"] or bad:
        return back("/admin/flavors/", f"Fix field '{bad[0] if bad else 'name'}': a name, and whole numbers for "
                                       "vCPUs, RAM and disk.")
    answer = await p.api.call("POST", "/compute/v2.1/flavors", json_body={"flavor": {
        "name": values["name"], "vcpus": int(values["vcpus"]), "ram": int(values["ram"]), "disk": int(values["disk"])}})
    return back("/admin/flavors/", f"Made flavor {values['name']}" if answer.ok else answer.error_message)


@page
async def delete_flavor(p: Page) -> Response:
    answer = await p.api.call("DELETE", f"/compute/v2.1/flavors/{p.request.path_params['flavor_id']}")
    return back("/admin/flavors/", "Flavor deleted" if answer.ok else answer.error_message)


@page
async def identity(p: Page) -> Response:
    projects, users, roles = await p.api.gather(
        p.api.get_json("/identity/v3/projects", "Listing projects"),
        p.api.get_json("/identity/v3/users", "Listing users"),
        p.api.get_json("/identity/v3/roles", "Listing roles"))
    assignments = await p.api.get_json("/identity/v3/role_assignments", "Listing role assignments",
                                       include_names="1")
    by_user: dict[str, list[str]] = {}
    for a in assignments["role_assignments"]:
        if "user" in a and "project" in a.get("scope", {}):
            by_user.setdefault(a["user"]["id"], []).append(
                f"{a['role'].get('name', a['role']['id'])} on {a['scope']['project'].get('name', '')}")
    return p.render("admin_identity.html", title="Projects and users",
                    projects=sorted(projects["projects"], key=lambda x: x["name"]),
                    users=sorted(users["users"], key=lambda x: x["name"]),
                    roles=sorted(roles["roles"], key=lambda x: x["name"]), by_user=by_user,
                    notice=p.request.query_params.get("notice"))


@page
async def create_project(p: Page) -> Response:
    form = await p.form()
    name = str(form.get("name", "")).strip()
    if not name:
        return back("/admin/identity/", "Give the project a name (field 'name').")
    answer = await p.api.call("POST", "/identity/v3/projects", json_body={"project": {
        "name": name, "domain_id": "default", "description": str(form.get("description", ""))}})
    return back("/admin/identity/", f"Made project {name}" if answer.ok else answer.error_message)


@page
async def create_user(p: Page) -> Response:
    """A user, and (when a project is chosen) a role on it: the two steps people always take."""
    form = await p.form()
    name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
    project, role = str(form.get("project", "")), str(form.get("role", ""))
    if not name or not password:
        return back("/admin/identity/", f"Give the user a {'name' if not name else 'password'} "
                                        f"(field '{'name' if not name else 'password'}').")
    body: dict[str, Any] = {"name": name, "password": password, "domain_id": "default"}
    if project:
        body["default_project_id"] = project
    answer = await p.api.call("POST", "/identity/v3/users", json_body={"user": body})
    if not answer.ok:
        return back("/admin/identity/", answer.error_message)
    if project and role:
        user_id = answer.json()["user"]["id"]
        granted = await p.api.call("PUT", f"/identity/v3/projects/{project}/users/{user_id}/roles/{role}")
        if not granted.ok:
            return back("/admin/identity/", f"Made user {name}, but the role failed: {granted.error_message}")
    return back("/admin/identity/", f"Made user {name}")


@page
async def grant_role(p: Page) -> Response:
    form = await p.form()
    user, project, role = (str(form.get(k, "")) for k in ("user", "project", "role"))
    verb = "DELETE" if form.get("revoke") else "PUT"
    answer = await p.api.call(verb, f"/identity/v3/projects/{project}/users/{user}/roles/{role}")
    return back("/admin/identity/", ("Role revoked" if verb == "DELETE" else "Role granted") if answer.ok
                else answer.error_message)


@page
async def quotas(p: Page) -> Response:
    projects = (await p.api.get_json("/identity/v3/projects", "Listing projects"))["projects"]
    chosen = p.request.query_params.get("project") or (p.viewer.project or {}).get("id", "")
    compute, network = await p.api.gather(
        p.api.get_json(f"/compute/v2.1/os-quota-sets/{chosen}/detail", "Reading compute quotas"),
        p.api.call("GET", f"/network/v2.0/quotas/{chosen}/details.json"))
    return p.render("admin_quotas.html", title="Quotas", projects=sorted(projects, key=lambda x: x["name"]),
                    chosen=chosen, compute=compute["quota_set"], keys=QUOTA_KEYS,
                    network=network.json().get("quota", {}) if network.ok else {}, network_keys=NETWORK_QUOTA_KEYS,
                    notice=p.request.query_params.get("notice"))


@page
async def update_quotas(p: Page) -> Response:
    form = await p.form()
    project = str(form.get("project", ""))
    compute: dict[str, int] = {}
    network: dict[str, int] = {}
    for key, _label in QUOTA_KEYS + NETWORK_QUOTA_KEYS:
        raw = str(form.get(key, "")).strip()
        if raw == "":
            continue
        if not re.fullmatch(r"-?\d+", raw) or int(raw) < -1:
            return back(f"/admin/quotas/?project={project}", f"Quota '{key}' is a whole number, or -1 for no limit.")
        (compute if key in dict(QUOTA_KEYS) else network)[key] = int(raw)
    problems = []
    if compute:
        answer = await p.api.call("PUT", f"/compute/v2.1/os-quota-sets/{project}", json_body={"quota_set": compute})
        if not answer.ok:
            problems.append(answer.error_message)
    if network:
        answer = await p.api.call("PUT", f"/network/v2.0/quotas/{project}", json_body={"quota": network})
        if not answer.ok:
            problems.append(answer.error_message)
    return back(f"/admin/quotas/?project={project}", "; ".join(problems) or "Quotas saved")


@page
async def agents(p: Page) -> Response:
    found = await p.api.get_json("/network/v2.0/agents", "Listing network agents")
    return p.render("admin_agents.html", title="Network agents",
                    agents=sorted(found["agents"], key=lambda a: (a["host"], a["agent_type"])))
