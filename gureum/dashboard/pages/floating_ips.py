"""Floating IPs: allocate, associate (also from an instance's row), disassociate, release."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from gureum.dashboard.web import Page, back, page


async def external_networks(p: Page) -> list[dict[str, Any]]:
    answer = await p.api.get_json("/network/v2.0/networks", "Listing external networks", **{"router:external": "True"})
    return answer["networks"]


@page
async def floating_ips(p: Page) -> Response:
    fips, external = await p.api.gather(
        p.api.get_json("/network/v2.0/floatingips", "Listing floating IPs"), external_networks(p))
    # Only the ports the addresses point at, and only their servers: not every port and server.
    port_ids = sorted({f["port_id"] for f in fips["floatingips"] if f.get("port_id")})
    ports = (await p.api.get_json("/network/v2.0/ports", "Listing ports", id=port_ids))["ports"] if port_ids else []
    devices = sorted({port["device_id"] for port in ports if port.get("device_id")})
    shown = await p.api.gather(*(p.api.call("GET", f"/compute/v2.1/servers/{d}") for d in devices))
    server_names = {d: a.json()["server"]["name"] for d, a in zip(devices, shown) if a.ok}
    port_owner = {port["id"]: server_names.get(port["device_id"], port["device_id"]) for port in ports}
    return p.render("floating_ips.html", title="Floating IPs", fips=sorted(fips["floatingips"],
                    key=lambda f: f["floating_ip_address"]), external=external, port_owner=port_owner,
                    notice=p.request.query_params.get("notice"))


@page
async def allocate(p: Page) -> Response:
    form = await p.form()
    network = str(form.get("network", ""))
    if not network:
        return back("/floating-ips/", "Choose an external network (field 'network').")
    answer = await p.api.call("POST", "/network/v2.0/floatingips",
                              json_body={"floatingip": {"floating_network_id": network}})
    if not answer.ok:
        return back("/floating-ips/", answer.error_message)
    return back("/floating-ips/", f"Allocated {answer.json()['floatingip']['floating_ip_address']}")


@page
async def associate_form(p: Page) -> Response:
    server_id = p.request.query_params.get("server_id", "")
    server, ports, fips, external = await p.api.gather(
        p.api.get_json(f"/compute/v2.1/servers/{server_id}", "Showing the instance"),
        p.api.get_json("/network/v2.0/ports", "Listing the instance's ports", device_id=server_id),
        p.api.get_json("/network/v2.0/floatingips", "Listing floating IPs"), external_networks(p))
    free = [f for f in fips["floatingips"] if not f.get("port_id")]
    return p.render("associate.html", title="Associate a floating IP", s=server["server"], ports=ports["ports"],
                    free=free, external=external, error=p.request.query_params.get("notice"))


@page
async def associate(p: Page) -> Response:
    form = await p.form()
    server_id, port_id, choice = (str(form.get(k, "")) for k in ("server_id", "port", "floating_ip"))
    if not port_id:
        return back(f"/floating-ips/associate?server_id={server_id}", "Choose the instance's port (field 'port').")
    if choice.startswith("new:"):
        answer = await p.api.call("POST", "/network/v2.0/floatingips", json_body={"floatingip": {
            "floating_network_id": choice[4:], "port_id": port_id}})
    elif choice:
        answer = await p.api.call("PUT", f"/network/v2.0/floatingips/{choice}",
                                  json_body={"floatingip": {"port_id": port_id}})
    else:
        return back(f"/floating-ips/associate?server_id={server_id}", "Choose a floating IP (field 'floating_ip').")
    if not answer.ok:
        return back(f"/floating-ips/associate?server_id={server_id}", answer.error_message)
    address = answer.json()["floatingip"]["floating_ip_address"]
    return back("/instances/", f"{address} now points at the instance")


@page
async def disassociate(p: Page) -> Response:
    fip = p.request.path_params["fip_id"]
    answer = await p.api.call("PUT", f"/network/v2.0/floatingips/{fip}", json_body={"floatingip": {"port_id": None}})
    return back("/floating-ips/", "Disassociated" if answer.ok else answer.error_message)


@page
async def release(p: Page) -> Response:
    answer = await p.api.call("DELETE", f"/network/v2.0/floatingips/{p.request.path_params['fip_id']}")
    return back("/floating-ips/", "Released" if answer.ok else answer.error_message)
