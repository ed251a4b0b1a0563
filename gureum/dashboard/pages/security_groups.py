"""Security groups and their rules, with presets for what people open most."""

from __future__ import annotations

import ipaddress
from typing import Any

from starlette.responses import Response

from gureum.dashboard.web import Page, back, page

PRESETS: dict[str, list[dict[str, Any]]] = {
    "ssh": [{"protocol": "tcp", "port_range_min": 22, "port_range_max": 22}],
    "icmp": [{"protocol": "icmp"}],
    "http": [{"protocol": "tcp", "port_range_min": 80, "port_range_max": 80}],
    "https": [{"protocol": "tcp", "port_range_min": 443, "port_range_max": 443}],
    "web": [{"protocol": "tcp", "port_range_min": 80, "port_range_max": 80},
            {"protocol": "tcp", "port_range_min": 443, "port_range_max": 443}],
}
PRESET_LABELS = {"ssh": "SSH (22)", "icmp": "ICMP (ping)", "http": "HTTP (80)", "https": "HTTPS (443)",
                 "web": "HTTP and HTTPS"}


@page
async def groups(p: Page) -> Response:
    found = await p.api.get_json("/network/v2.0/security-groups", "Listing security groups", project_id=p.project_id)
    return p.render("security_groups.html", title="Security groups",
                    groups=sorted(found["security_groups"], key=lambda g: g["name"]), presets=PRESET_LABELS,
                    notice=p.request.query_params.get("notice"))


@page
async def create_group(p: Page) -> Response:
    form = await p.form()
    name = str(form.get("name", "")).strip()
    if not name:
        return back("/security-groups/", "Give the group a name (field 'name').")
    answer = await p.api.call("POST", "/network/v2.0/security-groups", json_body={"security_group": {
        "name": name, "description": str(form.get("description", ""))}})
    return back("/security-groups/", f"Made group {name}" if answer.ok else answer.error_message)


@page
async def add_rule(p: Page) -> Response:
    group = p.request.path_params["group_id"]
    form = await p.form()
    preset, remote = str(form.get("preset", "")), str(form.get("remote", "")).strip() or "0.0.0.0/0"
    try:
        version = ipaddress.ip_network(remote, strict=False).version
    except ValueError:
        return back("/security-groups/", f"{remote!r} is not an address range (field 'remote').")
    if preset in PRESETS:
        rules = PRESETS[preset]
    else:
        protocol, low, high = (str(form.get(k, "")).strip() for k in ("protocol", "port_min", "port_max"))
        if protocol not in ("tcp", "udp", "icmp", ""):
            return back("/security-groups/", "Protocol is tcp, udp, icmp or any (field 'protocol').")
        rule: dict[str, Any] = {"protocol": protocol or None}
        if low:
            if not low.isdigit() or (high and not high.isdigit()):
                return back("/security-groups/", "Ports are whole numbers (field 'port_min').")
            rule["port_range_min"], rule["port_range_max"] = int(low), int(high or low)
        rules = [rule]
    problems = []
    for rule in rules:
        body = {"security_group_id": group, "direction": "ingress", "ethertype": f"IPv{version}",
                "remote_ip_prefix": remote, **rule}
        answer = await p.api.call("POST", "/network/v2.0/security-group-rules", json_body={"security_group_rule": body})
        if not answer.ok:
            problems.append(answer.error_message)
    return back("/security-groups/", "; ".join(problems) if problems else f"Added {PRESET_LABELS.get(preset, 'the rule')}")


@page
async def delete_rule(p: Page) -> Response:
    answer = await p.api.call("DELETE", f"/network/v2.0/security-group-rules/{p.request.path_params['rule_id']}")
    return back("/security-groups/", "Rule removed" if answer.ok else answer.error_message)


@page
async def delete_group(p: Page) -> Response:
    answer = await p.api.call("DELETE", f"/network/v2.0/security-groups/{p.request.path_params['group_id']}")
    return back("/security-groups/", "Group deleted" if answer.ok else answer.error_message)
