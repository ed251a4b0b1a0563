"""Networks with their subnets, and routers with their gateway and interfaces."""

from __future__ import annotations

import ipaddress
from typing import Any

from starlette.responses import Response

from gureum.dashboard.web import Page, api_field, back, page

NET_FIELDS = ("name", "cidr", "gateway_ip", "enable_dhcp", "dns_nameservers")


async def show_networks(p: Page, form: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                        status: int = 200) -> Response:
    networks, subnets = await p.api.gather(p.api.get_json("/network/v2.0/networks", "Listing networks"),
                                           p.api.get_json("/network/v2.0/subnets", "Listing subnets"))
    by_network: dict[str, list[dict[str, Any]]] = {}
    for subnet in subnets["subnets"]:
        by_network.setdefault(subnet["network_id"], []).append(subnet)
    return p.render("networks.html", status=status, title="Networks",
                    networks=sorted(networks["networks"], key=lambda n: (not n.get("router:external"), n["name"])),
                    subnets=by_network, form=form or {"cidr": "10.0.0.0/24", "enable_dhcp": "on"},
                    errors=errors or {}, notice=p.request.query_params.get("notice"))


@page
async def networks(p: Page) -> Response:
    return await show_networks(p)


@page
async def create_network(p: Page) -> Response:
    """A network and its first subnet: both or neither."""
    form = await p.form()
    values = {key: str(form.get(key, "")).strip() for key in NET_FIELDS}
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = "Give the network a name."
    try:
        cidr = ipaddress.ip_network(values["cidr"], strict=False) if values["cidr"] else None
    except ValueError:
        errors["cidr"] = f"{values['cidr']!r} is not an address range such as 10.0.0.0/24."
        cidr = None
    if values["gateway_ip"]:
        try:
            ipaddress.ip_address(values["gateway_ip"])
        except ValueError:
            errors["gateway_ip"] = f"{values['gateway_ip']!r} is not an IP address."
    if errors:
        return await show_networks(p, values, errors, status=400)
    made = await p.api.call("POST", "/network/v2.0/networks", json_body={"network": {"name": values["name"]}})
    if not made.ok:
        return await show_networks(p, values, {api_field(made.error_message, NET_FIELDS): made.error_message}, 400)
    network_id = made.json()["network"]["id"]
    if cidr is not None:
        subnet: dict[str, Any] = {"network_id": network_id, "cidr": str(cidr), "ip_version": cidr.version,
                                  "name": values["name"] + "-subnet", "enable_dhcp": values["enable_dhcp"] == "on"}
        if values["gateway_ip"]:
            subnet["gateway_ip"] = values["gateway_ip"]
        if values["dns_nameservers"]:
            subnet["dns_nameservers"] = [s.strip() for s in values["dns_nameservers"].split(",") if s.strip()]
        answer = await p.api.call("POST", "/network/v2.0/subnets", json_body={"subnet": subnet})
        if not answer.ok:
            await p.api.call("DELETE", f"/network/v2.0/networks/{network_id}")
            return await show_networks(p, values, {api_field(answer.error_message, NET_FIELDS) if
                                                   api_field(answer.error_message, NET_FIELDS) != "form" else "cidr":
                                                   answer.error_message}, 400)
    return back("/networks/", f"Made network {values['name']}")


@page
async def delete_network(p: Page) -> Response:
    answer = await p.api.call("DELETE", f"/network/v2.0/networks/{p.request.path_params['network_id']}")
    return back("/networks/", "Network deleted" if answer.ok else answer.error_message)


async def show_routers(p: Page, form: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                       status: int = 200) -> Response:
    routers, networks, subnets, ports = await p.api.gather(
        p.api.get_json("/network/v2.0/routers", "Listing routers"),
        p.api.get_json("/network/v2.0/networks", "Listing networks"),
        p.api.get_json("/network/v2.0/subnets", "Listing subnets"),
        p.api.get_json("/network/v2.0/ports", "Listing router ports", device_owner="network:router_interface"))
    subnet_by_id = {s["id"]: s for s in subnets["subnets"]}
    interfaces: dict[str, list[dict[str, Any]]] = {}
    for port in ports["ports"]:
        for fixed in port.get("fixed_ips", []):
            if fixed["subnet_id"] in subnet_by_id:
                interfaces.setdefault(port["device_id"], []).append(subnet_by_id[fixed["subnet_id"]])
    external = [n for n in networks["networks"] if n.get("router:external")]
    names = {n["id"]: n["name"] for n in networks["networks"]}
    return p.render("routers.html", status=status, title="Routers",
                    routers=sorted(routers["routers"], key=lambda r: r["name"]), interfaces=interfaces,
                    external=external, names=names,
                    subnets=[s for s in subnets["subnets"] if s["network_id"] not in {n["id"] for n in external}],
                    form=form or {"external": external[0]["id"] if len(external) == 1 else ""},
                    errors=errors or {}, notice=p.request.query_params.get("notice"))


@page
async def routers(p: Page) -> Response:
    return await show_routers(p)


@page
async def create_router(p: Page) -> Response:
    form = await p.form()
    values = {key: str(form.get(key, "")).strip() for key in ("name", "external", "subnet")}
    if not values["name"]:
        return await show_routers(p, values, {"name": "Give the router a name."}, 400)
    router: dict[str, Any] = {"name": values["name"]}
    if values["external"]:
        router["external_gateway_info"] = {"network_id": values["external"]}
    made = await p.api.call("POST", "/network/v2.0/routers", json_body={"router": router})
    if not made.ok:
        return await show_routers(p, values, {api_field(made.error_message, ("name", "external")): made.error_message},
                                  400)
    if values["subnet"]:
        router_id = made.json()["router"]["id"]
        added = await p.api.call("PUT", f"/network/v2.0/routers/{router_id}/add_router_interface",
                                 json_body={"subnet_id": values["subnet"]})
        if not added.ok:
            return back("/routers/", f"Made router {values['name']}, but its interface failed: {added.error_message}")
    return back("/routers/", f"Made router {values['name']}")


@page
async def router_interface(p: Page) -> Response:
    form = await p.form()
    router_id = p.request.path_params.get("router_id") or str(form.get("router", ""))
    verb = "remove_router_interface" if form.get("remove") else "add_router_interface"
    answer = await p.api.call("PUT", f"/network/v2.0/routers/{router_id}/{verb}",
                              json_body={"subnet_id": str(form.get("subnet", ""))})
    return back("/routers/", ("Interface removed" if form.get("remove") else "Interface added") if answer.ok
                else answer.error_message)


@page
async def delete_router(p: Page) -> Response:
    answer = await p.api.call("DELETE", f"/network/v2.0/routers/{p.request.path_params['router_id']}")
    return back("/routers/", "Router deleted" if answer.ok else answer.error_message)
