"""The network topology as SVG, laid out in Python: external networks on top, routers below
them, tenant networks as bars, instances at the bottom. Same input, same bytes."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

BAR_H = 22
BOX_W, BOX_H, GAP = 120, 40, 24
MARGIN = 16


@dataclass
class Graph:
    external: list[dict[str, Any]]
    tenant: list[dict[str, Any]]
    routers: list[dict[str, Any]]
    servers: list[dict[str, Any]]
    # router id -> tenant network ids; server id -> network ids
    router_legs: dict[str, list[str]] = field(default_factory=dict)
    server_nets: dict[str, list[str]] = field(default_factory=dict)


def build_graph(networks: list[dict[str, Any]], routers: list[dict[str, Any]], ports: list[dict[str, Any]],
                servers: list[dict[str, Any]]) -> Graph:
    by_name = lambda item: (item.get("name") or "", item["id"])  # noqa: E731
    legs: dict[str, set[str]] = {}
    attached: dict[str, set[str]] = {}
    server_ids = {s["id"] for s in servers}
    for port in ports:
        owner = port.get("device_owner") or ""
        if owner == "network:router_interface":
            legs.setdefault(port["device_id"], set()).add(port["network_id"])
        elif owner.startswith("compute:") and port["device_id"] in server_ids:
            attached.setdefault(port["device_id"], set()).add(port["network_id"])
    return Graph(
        external=sorted((n for n in networks if n.get("router:external")), key=by_name),
        tenant=sorted((n for n in networks if not n.get("router:external")), key=by_name),
        routers=sorted(routers, key=by_name), servers=sorted(servers, key=by_name),
        router_legs={k: sorted(v) for k, v in legs.items()}, server_nets={k: sorted(v) for k, v in attached.items()})


def _row_x(count: int, index: int) -> int:
    return MARGIN + index * (BOX_W + GAP)


def _label(text: str, limit: int = 16) -> str:
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


def render_svg(graph: Graph, prefix: str) -> str:
    widest = max(len(graph.routers), len(graph.servers), 4)
    width = MARGIN * 2 + widest * (BOX_W + GAP) - GAP
    y = MARGIN
    bar_y: dict[str, int] = {}
    parts: list[str] = []
    nodes: list[str] = []

    def bar(net: dict[str, Any], kind: str) -> None:
        nonlocal y
        bar_y[net["id"]] = y
        label = f"{net.get('name') or net['id']} ({kind})"
        nodes.append(
            f'<a href="{prefix}/networks/#net-{net["id"]}" class="node net {kind}">'
            f'<title>{escape(label)}</title>'
            f'<rect x="{MARGIN}" y="{y}" width="{width - 2 * MARGIN}" height="{BAR_H}" rx="4"/>'
            f'<text x="{MARGIN + 8}" y="{y + 15}">{escape(label)}</text></a>')
        y += BAR_H + 10

    for net in graph.external:
        bar(net, "external")
    router_y = y + 20
    y = router_y + BOX_H + 30
    for net in graph.tenant:
        bar(net, "tenant")
    server_y = y + 20
    height = server_y + (BOX_H + MARGIN if graph.servers else 0)

    for i, router in enumerate(graph.routers):
        x = _row_x(len(graph.routers), i)
        mid = x + BOX_W // 2
        gateway = (router.get("external_gateway_info") or {}).get("network_id")
        if gateway in bar_y:
            parts.append(f'<line x1="{mid}" y1="{router_y}" x2="{mid}" y2="{bar_y[gateway] + BAR_H}"/>')
        for leg in graph.router_legs.get(router["id"], []):
            if leg in bar_y:
                parts.append(f'<line x1="{mid}" y1="{router_y + BOX_H}" x2="{mid}" y2="{bar_y[leg]}"/>')
        nodes.append(
            f'<a href="{prefix}/routers/#router-{router["id"]}" class="node router">'
            f'<title>router {escape(router.get("name") or router["id"])}</title>'
            f'<rect x="{x}" y="{router_y}" width="{BOX_W}" height="{BOX_H}" rx="8"/>'
            f'<text x="{mid}" y="{router_y + 25}" text-anchor="middle">{_label(router.get("name") or router["id"])}</text></a>')
    for i, server in enumerate(graph.servers):
        x = _row_x(len(graph.servers), i)
        mid = x + BOX_W // 2
        for net in graph.server_nets.get(server["id"], []):
            if net in bar_y:
                parts.append(f'<line x1="{mid}" y1="{server_y}" x2="{mid}" y2="{bar_y[net] + BAR_H}"/>')
        nodes.append(
            f'<a href="{prefix}/instances/{server["id"]}" class="node server">'
            f'<title>instance {escape(server["name"])}: {escape(server.get("status", ""))}</title>'
            f'<rect x="{x}" y="{server_y}" width="{BOX_W}" height="{BOX_H}" rx="4"/>'
            f'<text x="{mid}" y="{server_y + 18}" text-anchor="middle">{_label(server["name"])}</text>'
            f'<text x="{mid}" y="{server_y + 33}" text-anchor="middle" class="small">{escape(server.get("status", ""))}</text></a>')
    summary = (f"{len(graph.external)} external networks, {len(graph.routers)} routers, "
               f"{len(graph.tenant)} networks, {len(graph.servers)} instances")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
            f'height="{height}" role="img" aria-labelledby="topo-title topo-desc">'
            f'<title id="topo-title">Network topology</title><desc id="topo-desc">{summary}</desc>'
            f'<g class="links">{"".join(parts)}</g><g class="nodes">{"".join(nodes)}</g></svg>')
