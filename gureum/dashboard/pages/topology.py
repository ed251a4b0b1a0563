"""The topology page: the SVG drawn on the server, and the same as a text list."""

from __future__ import annotations

from starlette.responses import Response

from gureum.dashboard.session import PREFIX
from gureum.dashboard.topology import build_graph, render_svg
from gureum.dashboard.web import Page, page


@page
async def topology(p: Page) -> Response:
    networks, routers, ports, servers = await p.api.gather(
        p.api.get_json("/network/v2.0/networks", "Listing networks"),
        p.api.get_json("/network/v2.0/routers", "Listing routers"),
        p.api.get_json("/network/v2.0/ports", "Listing ports"),
        p.api.get_json("/compute/v2.1/servers/detail", "Listing instances"))
    graph = build_graph(networks["networks"], routers["routers"], ports["ports"], servers["servers"])
    names = {n["id"]: n.get("name") or n["id"] for n in graph.external + graph.tenant}
    return p.render("topology.html", title="Topology", svg=render_svg(graph, PREFIX), g=graph, names=names)
