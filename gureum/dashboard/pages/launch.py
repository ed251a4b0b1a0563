"""Launch an instance from one page: defaults filled in, advanced folded, the quota effect
and the equivalent `openstack server create` line shown."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from starlette.responses import RedirectResponse, Response

from gureum.dashboard.client import ApiClient
from gureum.dashboard.session import PREFIX
from gureum.dashboard.web import Page, page

DEFAULT_FLAVOR = "t2.micro"
FIELDS = ("name", "image", "flavor", "network", "key_name", "security_group", "count", "user_data")
FIELD_IN_MESSAGE = re.compile(r"field '([^']+)'|(image|flavor|network|key ?pair|security group)", re.I)
MESSAGE_FIELDS = {"imageref": "image", "image": "image", "flavorref": "flavor", "flavor": "flavor",
                  "networks": "network", "network": "network", "key_name": "key_name", "keypair": "key_name",
                  "key pair": "key_name", "security_groups": "security_group", "security group": "security_group",
                  "name": "name", "min_count": "count", "max_count": "count", "user_data": "user_data"}


@dataclass
class Choices:
    images: list[dict[str, Any]]
    flavors: list[dict[str, Any]]
    networks: list[dict[str, Any]]
    keypairs: list[dict[str, Any]]
    groups: list[dict[str, Any]]
    limits: dict[str, Any]

    def defaults(self) -> dict[str, str]:
        flavor = next((f for f in self.flavors if f["name"] == DEFAULT_FLAVOR), None) or (
            min(self.flavors, key=lambda f: (f["ram"], f["vcpus"])) if self.flavors else None)
        return {
            "name": "",
            "image": self.images[0]["id"] if len(self.images) == 1 else "",
            "flavor": flavor["id"] if flavor else "",
            "network": self.networks[0]["id"] if len(self.networks) == 1 else "",
            "key_name": self.keypairs[0]["name"] if len(self.keypairs) == 1 else "",
            "security_group": "default" if any(g["name"] == "default" for g in self.groups) else "",
            "count": "1",
            "user_data": "",
        }


async def load_choices(api: ApiClient, project_id: str) -> Choices:
    images, flavors, networks, keypairs, groups, limits = await api.gather(
        api.get_json("/image/v2/images", "Listing images", status="active", limit="1000"),
        api.get_json("/compute/v2.1/flavors/detail", "Listing flavors"),
        api.get_json("/network/v2.0/networks", "Listing networks"),
        api.get_json("/compute/v2.1/os-keypairs", "Listing key pairs"),
        api.get_json("/network/v2.0/security-groups", "Listing security groups", project_id=project_id),
        api.get_json("/compute/v2.1/limits", "Reading limits"))
    # Guests attach to the project's own and shared networks (an admin lists every project's);
    # an external network is for routers.
    usable = [n for n in networks["networks"]
              if (n.get("project_id") == project_id or n.get("shared"))
              and not n.get("router:external") and n.get("status") != "ERROR"]
    return Choices(
        images=sorted(images["images"], key=lambda i: i.get("name") or ""),
        flavors=sorted(flavors["flavors"], key=lambda f: (f["ram"], f["vcpus"], f["name"])),
        networks=sorted(usable, key=lambda n: n["name"]),
        keypairs=[k["keypair"] for k in keypairs["keypairs"]],
        groups=sorted(groups["security_groups"], key=lambda g: g["name"]),
        limits=limits["limits"]["absolute"],
    )


def quota_effect(choices: Choices, values: dict[str, str]) -> list[dict[str, Any]]:
    flavor = next((f for f in choices.flavors if f["id"] == values.get("flavor")), None)
    count = int(values["count"]) if str(values.get("count", "")).isdigit() else 1
    limits = choices.limits
    rows = [("Instances", count, "totalInstancesUsed", "maxTotalInstances", "")]
    if flavor:
        rows += [("vCPUs", flavor["vcpus"] * count, "totalCoresUsed", "maxTotalCores", ""),
                 ("RAM", flavor["ram"] * count, "totalRAMUsed", "maxTotalRAMSize", " MiB")]
    effect = []
    for label, adds, used_key, limit_key, unit in rows:
        used, limit = limits.get(used_key, 0), limits.get(limit_key, -1)
        effect.append({"label": label, "adds": adds, "used": used, "limit": limit, "unit": unit,
                       "over": limit >= 0 and used + adds > limit})
    return effect


def cli_words(choices: Choices, values: dict[str, str]) -> list[str]:
    def name_of(items: list[dict[str, Any]], key: str, wanted: str) -> str:
        found = next((i for i in items if i.get(key) == wanted), None)
        return (found.get("name") or wanted) if found else wanted

    words = ["openstack", "server", "create"]
    if values.get("image"):
        words += ["--image", name_of(choices.images, "id", values["image"])]
    if values.get("flavor"):
        words += ["--flavor", name_of(choices.flavors, "id", values["flavor"])]
    words += ["--network", name_of(choices.networks, "id", values["network"])] if values.get("network") else ["--nic", "none"]
    if values.get("key_name"):
        words += ["--key-name", values["key_name"]]
    if values.get("security_group"):
        words += ["--security-group", values["security_group"]]
    if values.get("user_data"):
        words += ["--user-data", "user-data.txt"]
    count = str(values.get("count") or "1")
    if count != "1":
        words += ["--min", count, "--max", count]
    words.append(values.get("name") or "NAME")
    return words


def check(choices: Choices, values: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    name = values.get("name", "").strip()
    if not name:
        errors["name"] = "Give the instance a name."
    elif len(name) > 255:
        errors["name"] = "A name has at most 255 characters."
    if not any(i["id"] == values.get("image") for i in choices.images):
        errors["image"] = "Choose an image."
    if not any(f["id"] == values.get("flavor") for f in choices.flavors):
        errors["flavor"] = "Choose a flavor."
    if values.get("network") and not any(n["id"] == values["network"] for n in choices.networks):
        errors["network"] = "Choose one of the networks listed."
    if values.get("key_name") and not any(k["name"] == values["key_name"] for k in choices.keypairs):
        errors["key_name"] = "Choose one of the key pairs listed."
    count = str(values.get("count", "1")).strip()
    if not count.isdigit() or not 1 <= int(count) <= 50:
        errors["count"] = "Count is a whole number from 1 to 50."
    if not errors:
        over = [e["label"] for e in quota_effect(choices, values) if e["over"]]
        if over:
            errors["count" if values.get("count") != "1" else "flavor"] = (
                f"This would go over the project's quota for {', '.join(over)}.")
    return errors


def field_of(message: str) -> str:
    for match in FIELD_IN_MESSAGE.finditer(message):
        word = (match.group(1) or match.group(2) or "").split(".")[-1].lower()
        if word in MESSAGE_FIELDS:
            return MESSAGE_FIELDS[word]
    return "form"


def form_values(form: dict[str, Any]) -> dict[str, str]:
    return {key: str(form.get(key, "")) for key in FIELDS}


@page
async def launch_form(p: Page) -> Response:
    choices = await load_choices(p.api, p.project_id)
    values = choices.defaults()
    return p.render("launch.html", title="Launch an instance", c=choices, form=values, errors={},
                    effect=quota_effect(choices, values), cli=cli_words(choices, values))


@page
async def launch_preview(p: Page) -> Response:
    """The quota effect and CLI line for what the form holds now (htmx, on every change)."""
    choices = await load_choices(p.api, p.project_id)
    values = form_values(await p.form())
    return p.render("_launch_preview.html", effect=quota_effect(choices, values), cli=cli_words(choices, values))


@page
async def launch(p: Page) -> Response:
    choices = await load_choices(p.api, p.project_id)
    values = form_values(await p.form())
    errors = check(choices, values)
    if not errors:
        server: dict[str, Any] = {"name": values["name"].strip(), "imageRef": values["image"],
                                  "flavorRef": values["flavor"],
                                  "networks": [{"uuid": values["network"]}] if values["network"] else "none"}
        if values["key_name"]:
            server["key_name"] = values["key_name"]
        if values["security_group"]:
            server["security_groups"] = [{"name": values["security_group"]}]
        if values["user_data"]:
            server["user_data"] = base64.b64encode(values["user_data"].encode()).decode()
        if values["count"] != "1":
            server["min_count"] = server["max_count"] = int(values["count"])
        answer = await p.api.call("POST", "/compute/v2.1/servers", json_body={"server": server})
        if answer.status in (200, 202):
            return RedirectResponse(f"{PREFIX}/instances/?notice=Launching {values['name'].strip()}", status_code=303)
        message = answer.error_message
        errors[field_of(message)] = message
    return p.render("launch.html", status=400, title="Launch an instance", c=choices, form=values, errors=errors,
                    effect=quota_effect(choices, values), cli=cli_words(choices, values))
