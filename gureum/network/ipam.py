"""IP address management: pools, the gateway, and handing out each address once.

The database's unique key (subnet_id, ip_address) is the final word: allocation picks
the lowest free address in the pools, inserts it inside a savepoint, and on a clash
(another writer took it in between) moves on to the next one. Never the gateway,
never the network or broadcast address, never outside the pools.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gureum.http.errors import BadRequest, Conflict
from gureum.network.models import IPAllocation, Subnet

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def default_pools(net: IPNetwork, gateway: str | None) -> list[dict[str, str]]:
    """The whole range minus the network, broadcast (IPv4) and gateway addresses."""
    first = int(net.network_address) + 1
    last = int(net.broadcast_address) - (1 if net.version == 4 else 0)
    if net.prefixlen >= (31 if net.version == 4 else 127):
        # /31 and /32: every address is a host (RFC 3021).
        first, last = int(net.network_address), int(net.broadcast_address)
    ranges: list[tuple[int, int]] = [(first, last)] if first <= last else []
    if gateway is not None:
        gw = int(ipaddress.ip_address(gateway))
        split: list[tuple[int, int]] = []
        for lo, hi in ranges:
            if lo <= gw <= hi:
                if lo <= gw - 1:
                    split.append((lo, gw - 1))
                if gw + 1 <= hi:
                    split.append((gw + 1, hi))
            else:
                split.append((lo, hi))
        ranges = split
    addr = ipaddress.ip_address
    return [{"start": str(addr(lo) if net.version == 4 else ipaddress.IPv6Address(lo)),
             "end": str(addr(hi) if net.version == 4 else ipaddress.IPv6Address(hi))} for lo, hi in ranges]


def validate_pools(net: IPNetwork, pools: list[dict[str, Any]], gateway: str | None) -> list[dict[str, str]]:
    """Check pools as neutron does; answers the normalized, sorted list."""
    parsed: list[tuple[int, int]] = []
    for pool in pools:
        start, end = pool.get("start"), pool.get("end")
        try:
            lo, hi = ipaddress.ip_address(str(start)), ipaddress.ip_address(str(end))
        except ValueError as exc:
            raise BadRequest(f"Invalid input for allocation_pools. Reason: {exc}.", kind="HTTPBadRequest") from exc
        if lo.version != net.version or hi.version != net.version:
            raise BadRequest(f"Invalid input for allocation_pools. Reason: pool {start}-{end} is not IPv{net.version}.",
                             kind="HTTPBadRequest")
        if lo > hi:
            raise BadRequest(f"The allocation pool {start}-{end} is not valid: its start is after its end.",
                             kind="InvalidAllocationPool")
        if lo not in net or hi not in net:
            raise BadRequest(f"The allocation pool {start}-{end} spans beyond the subnet cidr {net}.",
                             kind="OutOfBoundsAllocationPool")
        if net.version == 4 and net.prefixlen < 31 and (lo == net.network_address or hi == net.broadcast_address):
            raise BadRequest(f"The allocation pool {start}-{end} spans beyond the subnet cidr {net}.",
                             kind="OutOfBoundsAllocationPool")
        if gateway is not None and lo <= ipaddress.ip_address(gateway) <= hi:
            raise Conflict(f"Gateway ip {gateway} conflicts with allocation pool {start}-{end}.",
                           kind="GatewayConflictWithAllocationPools")
        parsed.append((int(lo), int(hi)))
    parsed.sort()
    for (lo1, hi1), (lo2, hi2) in zip(parsed, parsed[1:]):
        if lo2 <= hi1:
            a = f"{ipaddress.ip_address(lo1)}-{ipaddress.ip_address(hi1)}"
            b = f"{ipaddress.ip_address(lo2)}-{ipaddress.ip_address(hi2)}"
            raise BadRequest(f"Found overlapping allocation pools: {a} and {b}.", kind="OverlappingAllocationPools")
    cls = ipaddress.IPv4Address if net.version == 4 else ipaddress.IPv6Address
    return [{"start": str(cls(lo)), "end": str(cls(hi))} for lo, hi in parsed]


def in_pools(subnet: Subnet, address: IPAddress) -> bool:
    value = int(address)
    return any(int(ipaddress.ip_address(p["start"])) <= value <= int(ipaddress.ip_address(p["end"]))
               for p in subnet.allocation_pools)


def pool_addresses(subnet: Subnet) -> Iterator[IPAddress]:
    gateway = ipaddress.ip_address(subnet.gateway_ip) if subnet.gateway_ip else None
    for pool in subnet.allocation_pools:
        lo, hi = int(ipaddress.ip_address(pool["start"])), int(ipaddress.ip_address(pool["end"]))
        cls = ipaddress.IPv4Address if subnet.ip_version == 4 else ipaddress.IPv6Address
        for value in range(lo, hi + 1):
            address = cls(value)
            if address != gateway:
                yield address


def used_addresses(session: Session, subnet_id: str) -> set[str]:
    return set(session.scalars(select(IPAllocation.ip_address).where(IPAllocation.subnet_id == subnet_id)))


def _insert(session: Session, port_id: str, subnet: Subnet, address: str) -> bool:
    """Insert inside a savepoint; False if another writer holds the address."""
    try:
        with session.begin_nested():
            session.add(IPAllocation(port_id=port_id, subnet_id=subnet.id, network_id=subnet.network_id,
                                     ip_address=address))
            session.flush()
        return True
    except IntegrityError:
        return False


def allocate_any(session: Session, port_id: str, subnet: Subnet) -> str:
    """The lowest free pool address of the subnet, taken for the port."""
    used = used_addresses(session, subnet.id)
    for address in pool_addresses(subnet):
        text = str(address)
        if text in used:
            continue
        if _insert(session, port_id, subnet, text):
            return text
    raise Conflict(f"No more IP addresses available on network {subnet.network_id}.",
                   kind="IpAddressGenerationFailure")


def allocate_exact(session: Session, port_id: str, subnet: Subnet, address: str, *, allow_gateway: bool = False) -> str:
    """A requested address: inside the subnet (not necessarily in a pool, as in neutron), not taken."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError as exc:
        raise BadRequest(f"Invalid input for fixed_ips. Reason: '{address}' is not a valid IP address.",
                         kind="HTTPBadRequest") from exc
    net = ipaddress.ip_network(subnet.cidr)
    if ip not in net:
        raise BadRequest(f"IP address {address} is not a valid IP for the specified subnet.",
                         kind="InvalidIpForSubnet")
    if net.version == 4 and net.prefixlen < 31 and ip in (net.network_address, net.broadcast_address):
        raise BadRequest(f"IP address {address} is not a valid IP for the specified subnet.",
                         kind="InvalidIpForSubnet")
    if subnet.gateway_ip and ip == ipaddress.ip_address(subnet.gateway_ip) and not allow_gateway:
        raise Conflict(f"IP address {address} already allocated in subnet {subnet.id}",
                       kind="IpAddressAlreadyAllocated")
    text = str(ip)
    if not _insert(session, port_id, subnet, text):
        raise Conflict(f"IP address {text} already allocated in subnet {subnet.id}",
                       kind="IpAddressAlreadyAllocated")
    return text


def check_cidr(value: Any, field: str = "cidr") -> IPNetwork:
    try:
        net = ipaddress.ip_network(str(value), strict=True)
    except ValueError as exc:
        try:
            ipaddress.ip_network(str(value), strict=False)
        except ValueError:
            raise BadRequest(f"Invalid input for {field}. Reason: '{value}' is not a valid IP subnet.",
                             kind="HTTPBadRequest") from exc
        raise BadRequest(f"Invalid input for {field}. Reason: '{value}' isn't a recognized IP subnet cidr,"
                         f" '{ipaddress.ip_network(str(value), strict=False)}' is recommended.",
                         kind="HTTPBadRequest") from exc
    return net

