"""Nova's network_data.json: how a guest's own tools (cloud-init, glean) set up its NICs.

Built here, where subnets are known, and carried to the agent in the desired state,
which serves it on the metadata service and writes it on the config drive. The shape
is Nova's: `links` (one per port, in NIC order), `networks` (one per fixed address,
`ipv4_dhcp` where the subnet runs DHCP, static with routes where it does not; IPv6 by
its address mode) and `services` (the subnets' DNS servers, once each).
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gureum.network.models import IPAllocation, Network, Port, Subnet

# cloud-init names the link type only to pick a renderer path; ours are Linux bridge taps.
LINK_TYPE = "bridge"
_IPV6_MODE_TYPES = {"slaac": "ipv6_slaac", "dhcpv6-stateless": "ipv6_dhcpv6-stateless",
                    "dhcpv6-stateful": "ipv6_dhcpv6-stateful"}


def network_data(session: Session, ports_by_guest: dict[str, list[Port]]) -> dict[str, dict[str, Any]]:
    """Each guest's document, from its ports in NIC order: three statements for any number of guests."""
    all_ports = [p for found in ports_by_guest.values() for p in found]
    if not all_ports:
        return {guest: _document([], {}, {}, {}) for guest in ports_by_guest}
    allocations: dict[str, list[IPAllocation]] = defaultdict(list)
    for allocation in session.scalars(select(IPAllocation).where(IPAllocation.port_id.in_([p.id for p in all_ports]))
                                      .order_by(IPAllocation.id)):
        allocations[allocation.port_id].append(allocation)
    subnets = {s.id: s for s in session.scalars(select(Subnet).where(
        Subnet.id.in_({a.subnet_id for found in allocations.values() for a in found})))}
    mtus = dict(session.execute(select(Network.id, Network.mtu).where(
        Network.id.in_({p.network_id for p in all_ports}))).all())
    return {guest: _document(found, allocations, subnets, mtus) for guest, found in ports_by_guest.items()}


def _document(ports: list[Port], allocations: dict[str, list[IPAllocation]], subnets: dict[str, Subnet],
              mtus: dict[str, int | None]) -> dict[str, Any]:
    links: list[dict[str, Any]] = []
    networks: list[dict[str, Any]] = []
    services: list[dict[str, str]] = []
    for port in ports:
        link = _link(port, mtus.get(port.network_id))
        links.append(link)
        for allocation in allocations.get(port.id, []):
            subnet = subnets.get(allocation.subnet_id)
            if subnet is None:
                continue
            entry = _network(port, subnet, allocation.ip_address, link["id"], len(networks))
            if entry["type"].endswith("dhcp") and any(
                    n["link"] == link["id"] and n["type"] == entry["type"] for n in networks):
                continue  # one DHCP client per link and family is all a guest runs
            networks.append(entry)
            services += [dns for dns in _dns_services(subnet) if dns not in services]
    return {"links": links, "networks": networks, "services": services}


def _link(port: Port, mtu: int | None) -> dict[str, Any]:
    # Named as Nova names the tap (its devname): tap + the port id's first 11 characters.
    return {"id": "tap" + port.id[:11], "vif_id": port.id, "type": LINK_TYPE, "mtu": mtu,
            "ethernet_mac_address": port.mac_address}


def _network(port: Port, subnet: Subnet, address: str, link_id: str, index: int) -> dict[str, Any]:
    base = {"id": f"network{index}", "link": link_id, "network_id": port.network_id}
    kind = _dynamic_type(subnet)
    if kind is not None:
        return {**base, "type": kind}
    cidr = ipaddress.ip_network(subnet.cidr, strict=False)
    return {**base, "type": f"ipv{subnet.ip_version}", "ip_address": address, "netmask": str(cidr.netmask),
            "routes": _routes(subnet), "services": _dns_services(subnet)}


def _dynamic_type(subnet: Subnet) -> str | None:
    """The network type when the guest asks the network for its address, else None (static)."""
    if subnet.ip_version == 6:
        if subnet.ipv6_address_mode in _IPV6_MODE_TYPES:
            return _IPV6_MODE_TYPES[subnet.ipv6_address_mode]
        return "ipv6_dhcp" if subnet.enable_dhcp and subnet.ipv6_address_mode else None
    return "ipv4_dhcp" if subnet.enable_dhcp else None


def _routes(subnet: Subnet) -> list[dict[str, str]]:
    routes = []
    if subnet.gateway_ip:
        anywhere = "0.0.0.0" if subnet.ip_version == 4 else "::"
        routes.append({"network": anywhere, "netmask": anywhere, "gateway": subnet.gateway_ip})
    for route in subnet.host_routes or []:
        destination = ipaddress.ip_network(route["destination"], strict=False)
        routes.append({"network": str(destination.network_address), "netmask": str(destination.netmask),
                       "gateway": route["nexthop"]})
    return routes


def _dns_services(subnet: Subnet) -> list[dict[str, str]]:
    return [{"type": "dns", "address": address} for address in subnet.dns_nameservers or []]
