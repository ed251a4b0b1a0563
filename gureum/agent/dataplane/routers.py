"""A router: a namespace that forwards between its legs, with NAT to the outside.

{prefix}qrouter-<router> holds a qr- leg per interface (on the internal
network's bridge, with the interface's MAC and addresses) and a qg- leg on
the external network's bridge with the gateway addresses plus each floating
IP as a /32, so the router answers ARP for them. Forwarding is on; the
default route goes via the external subnet's gateway.

NAT is one nftables `ip` table in the namespace, replaced whole:
* per floating IP: DNAT floating -> fixed (prerouting, and output for the
  router's own traffic), SNAT fixed -> floating for what leaves by qg-;
* enable_snat: the internal subnets leave by qg- as the gateway address;
* a guest reaching another guest's floating IP from inside is SNATed to the
  gateway address too, so the reply comes back through the router.
Floating IPs work with enable_snat false.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from gureum.agent.dataplane import names
from gureum.agent.dataplane.errors import DataplaneError
from gureum.agent.dataplane.legs import LegSpec
from gureum.agent.protocol import DesiredRouter, DesiredRouterLeg

_IPV4 = 2
_IPV6 = 10


@dataclass(frozen=True)
class RouterPlan:
    """What one router's namespace must hold, computed from desired state alone."""

    legs: dict[str, tuple[DesiredRouterLeg, LegSpec]]  # port id -> (leg, spec)
    routes: set[tuple[str, str]]  # (destination, nexthop)
    nat_body: str | None
    floating_ip_ids: list[str] = field(default_factory=list)


def plan(router: DesiredRouter, mtus: dict[str, int]) -> RouterPlan:
    legs: dict[str, tuple[DesiredRouterLeg, LegSpec]] = {}
    for leg in router.interfaces:
        legs[leg.port_id] = (leg, _spec(leg, names.router_interface_name(leg.port_id), mtus, set(leg.addresses)))
    gateway_address = None
    if router.gateway is not None:
        gateway_addresses = set(router.gateway.addresses)
        gateway_addresses |= {f"{fip.floating_ip}/32" for fip in router.floating_ips}
        legs[router.gateway.port_id] = (router.gateway, _spec(router.gateway, names.router_gateway_name(
            router.gateway.port_id), mtus, gateway_addresses))
        gateway_address = next((a.split("/")[0] for a in router.gateway.addresses
                                if ipaddress.ip_interface(a).version == 4), None)
    routes: set[tuple[str, str]] = set()
    if router.gateway is not None and router.gateway_nexthop:
        routes.add(("0.0.0.0/0" if ipaddress.ip_address(router.gateway_nexthop).version == 4 else "::/0",
                    router.gateway_nexthop))
    for route in router.routes:
        routes.add((str(ipaddress.ip_network(route["destination"], strict=False)), route["nexthop"]))
    return RouterPlan(legs=legs, routes=routes, nat_body=_nat_body(router, gateway_address),
                      floating_ip_ids=[fip.id for fip in router.floating_ips] if router.gateway else [])


def _spec(leg: DesiredRouterLeg, inner_name: str, mtus: dict[str, int], addresses: set[str]) -> LegSpec:
    return LegSpec(host_name=names.tap_name(leg.port_id), inner_name=inner_name, mac=leg.mac,
                   mtu=mtus.get(leg.network_id, 1500), addresses=frozenset(addresses))


def _nat_body(router: DesiredRouter, gateway_address: str | None) -> str | None:
    if router.gateway is None:
        return None
    qg = names.router_gateway_name(router.gateway.port_id)
    internal = sorted({str(ipaddress.ip_interface(a).network) for leg in router.interfaces for a in leg.addresses
                       if ipaddress.ip_interface(a).version == 4})
    floating = [fip for fip in router.floating_ips if ipaddress.ip_address(fip.floating_ip).version == 4]
    dnat = [f"ip daddr {fip.floating_ip} dnat to {fip.fixed_ip}" for fip in floating]
    snat = [f'oifname "{qg}" ip saddr {fip.fixed_ip} snat to {fip.floating_ip}' for fip in floating]
    if gateway_address is not None:
        if router.enable_snat and internal:
            snat.append(f'oifname "{qg}" ip saddr {{ {", ".join(internal)} }} snat to {gateway_address}')
        if floating:
            snat.append(f'iifname != "{qg}" oifname != "{qg}" ct status dnat snat to {gateway_address}')
    return (_chain("prerouting", ["type nat hook prerouting priority dstnat; policy accept;", *dnat])
            + _chain("output", ["type nat hook output priority -100; policy accept;", *dnat])
            + _chain("postrouting", ["type nat hook postrouting priority srcnat; policy accept;", *snat]))


def _chain(name: str, lines: list[str]) -> str:
    return f"\tchain {name} {{\n" + "".join(f"\t\t{line}\n" for line in lines) + "\t}\n"


def check_networks(router: DesiredRouter, built: set[str]) -> list[str]:
    """Legs whose network is not built on this host, in plain words."""
    legs = [*router.interfaces, *([router.gateway] if router.gateway else [])]
    return [f"leg {leg.port_id} is on network {leg.network_id}, which this host did not build"
            for leg in legs if leg.network_id not in built]


def require_gateway_for_floating_ips(router: DesiredRouter) -> None:
    if router.floating_ips and router.gateway is None:
        raise DataplaneError(f"router {router.id} has floating IPs but no external gateway: set its gateway "
                             "(openstack router set --external-gateway <network>)")
