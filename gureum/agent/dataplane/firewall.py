"""Security groups and anti-spoofing for guest ports, as nftables rules.

Family choice, measured on this kernel (6.18): a `ct` expression in a `bridge`
family table is refused ("Protocol error"): there is no nf_conntrack_bridge,
so a bridge table cannot be stateful. br_netfilter is built in, so bridged
IPv4/IPv6 frames can be handed to the `inet` hooks, where conntrack works.
But there `iifname`/`oifname` are the bridge, not the port, and nft has no
physdev match. So the work is split between two tables of ours:

* `bridge` table, which sees the ports: in prerouting, a frame from a guest's
  tap gets the port's number in the low 16 bits of the packet mark and its
  anti-spoofing checks (source MAC, ARP and IP source addresses limited to
  the port's fixed IPs and allowed address pairs, no DHCP or router
  advertisement server); in forward, a frame toward a guest's tap gets that
  port's number in the high 16 bits. Both run before br_netfilter's own hooks.
* `inet` table, which sees conntrack: in forward (and input, for a host
  address on a mapped bridge) the low half selects the sender's egress chain,
  the high half the receiver's ingress chain: `ct state established,related`
  first, then the group rules, then drop. Each network's bridge gets its own
  conntrack zone, so two projects' overlapping addresses never share entries.

br_netfilter is switched on per bridge (nf_call_iptables), never with the
namespace-wide sysctl, so no other bridge on the host is affected. Ports with
port_security_enabled false are not numbered: no rule sees them. Both tables
are rewritten in one nft transaction whenever anything in them changes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from gureum.agent.protocol import DesiredPort, DesiredRule, DesiredSecurityGroup

PORT_BITS = 16
MAX_PORTS = (1 << PORT_BITS) - 1
_LOW = 0x0000FFFF
_HIGH = 0xFFFF0000

# Neutron's protocol names (neutron_lib.constants.IP_PROTOCOL_MAP) -> IP protocol numbers.
PROTOCOL_NUMBERS = {
    "ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "hopopt": 0, "icmp": 1, "igmp": 2, "ip": 4,
    "ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58, "icmpv6": 58, "ipv6-nonxt": 59,
    "ipv6-opts": 60, "ipv6-route": 43, "ospf": 89, "pgm": 113, "rsvp": 46, "sctp": 132, "tcp": 6,
    "udp": 17, "udplite": 136, "vrrp": 112,
}
_PORT_PROTOCOLS = {6: "tcp", 17: "udp", 132: "sctp", 136: "udplite", 33: "dccp"}
_ANY_PROTOCOL = {None, "", "any", "0"}


@dataclass(frozen=True)
class FilteredPort:
    number: int  # 1..65535, this ruleset's name for the port in the packet mark
    tap: str
    port: DesiredPort


@dataclass(frozen=True)
class Ruleset:
    bridge_body: str | None  # None: no table needed
    inet_body: str | None


def number_ports(ports: Iterable[tuple[str, DesiredPort]]) -> list[FilteredPort]:
    """Ports with port security, numbered in a stable order (by port id)."""
    secured = sorted(((tap, port) for tap, port in ports if port.port_security_enabled), key=lambda item: item[1].id)
    if len(secured) > MAX_PORTS:
        raise ValueError(f"{len(secured)} filtered ports on one host; the mark layout allows {MAX_PORTS}")
    return [FilteredPort(number=index + 1, tap=tap, port=port) for index, (tap, port) in enumerate(secured)]


def render(ports: list[FilteredPort], groups: dict[str, DesiredSecurityGroup], bridges: list[str],
           zones: dict[str, int], tunnels: Iterable[str] = ()) -> Ruleset:
    """Both table bodies for these ports; `zones` gives our own bridges their conntrack zone,
    `tunnels` names our VXLAN devices (the mark is cleared on the way into them)."""
    if not ports and not zones:
        return Ruleset(bridge_body=None, inet_body=None)
    remote_sets = _RemoteSets(groups)
    chains = [_port_chains(filtered, groups, remote_sets) for filtered in ports]
    inet = remote_sets.declarations() + _zone_chain(zones)
    if ports:
        inet += _dispatch_chains(ports, bridges) + "".join(egress + ingress for _, _, egress, ingress in chains)
    bridge = _bridge_dispatch(ports, sorted(tunnels)) + "".join(source + to for source, to, _, _ in chains) \
        if ports else None
    return Ruleset(bridge_body=bridge, inet_body=inet)


# -- bridge family: port numbers and anti-spoofing ---------------------------------------


def _bridge_dispatch(ports: list[FilteredPort], tunnels: list[str]) -> str:
    from_map = ", ".join(f'"{p.tap}" : jump from_{p.number}' for p in ports)
    to_map = ", ".join(f'"{p.tap}" : jump to_{p.number}' for p in ports)
    chains = (_chain("prerouting", ["type filter hook prerouting priority -200; policy accept;",
                                    f"iifname vmap {{ {from_map} }}"])
              + _chain("forward", ["type filter hook forward priority -200; policy accept;",
                                   f"oifname vmap {{ {to_map} }}"]))
    if tunnels:
        # The mark means something only inside our bridges: a frame going into a VXLAN
        # device must not carry it into the underlay's route lookup (fwmark rules).
        names = ", ".join(f'"{tunnel}"' for tunnel in tunnels)
        chains += _chain("postrouting", ["type filter hook postrouting priority 0; policy accept;",
                                         f"oifname {{ {names} }} meta mark set 0x0"])
    return chains


def _port_chains(filtered: FilteredPort, groups: dict[str, DesiredSecurityGroup],
                 remote_sets: _RemoteSets) -> tuple[str, str, str, str]:
    port, number = filtered.port, filtered.number
    stateful = _stateful(port, groups)
    rules = [rule for group_id in port.security_group_ids if (group := groups.get(group_id)) for rule in group.rules]
    egress = [line for rule in rules if rule.direction == "egress"
              for line in [_rule_match(rule, remote_sets)] if line is not None]
    ingress = [line for rule in rules if rule.direction == "ingress"
               for line in [_rule_match(rule, remote_sets)] if line is not None]
    return (_chain(f"from_{number}", _anti_spoofing(port, number)),
            _chain(f"to_{number}", [f"meta mark set meta mark and {_LOW:#x} or {number << PORT_BITS:#010x}",
                                    "ether type { arp, ip, ip6 } accept", "drop"]),
            _chain(f"egress_{number}", _conntrack(stateful, "return") + [
                # A guest may always ask for an address and find its routers and neighbours.
                "meta nfproto ipv4 udp sport 68 udp dport 67 return",
                "meta nfproto ipv6 udp sport 546 udp dport 547 return",
                ("meta nfproto ipv6 icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, "
                 "mld-listener-report, mld2-listener-report } return"),
                *(f"{match} return" for match in egress), "drop"]),
            _chain(f"ingress_{number}", _conntrack(stateful, "accept") + [
                "meta nfproto ipv4 udp sport 67 udp dport 68 accept",
                "meta nfproto ipv6 udp sport 547 udp dport 546 accept",
                ("meta nfproto ipv6 icmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, "
                 "mld-listener-query } accept"),
                *(f"{match} accept" for match in ingress), "drop"]))


def _stateful(port: DesiredPort, groups: dict[str, DesiredSecurityGroup]) -> bool:
    # Neutron forbids mixing stateful and stateless groups on a port; stateful wins here.
    return any(groups[g].stateful for g in port.security_group_ids if g in groups) or not port.security_group_ids


def _conntrack(stateful: bool, allow: str) -> list[str]:
    if not stateful:
        return []
    return [f"ct state established,related {allow}", "ct state invalid drop"]


def _anti_spoofing(port: DesiredPort, number: int) -> list[str]:
    macs = _allowed_macs(port)
    ipv4, ipv6 = _allowed_networks(port)
    lines = [f"meta mark set {number:#010x}",
             f"ether saddr != {{ {', '.join(macs)} }} drop",
             f"ether type arp arp saddr ether != {{ {', '.join(macs)} }} drop",
             # 0.0.0.0: the probes of duplicate address detection (RFC 5227).
             f"ether type arp arp saddr ip != {{ {', '.join(['0.0.0.0', *ipv4])} }} drop",
             "ether type arp accept",
             # Only the network's DHCP server answers DHCP: a guest never does.
             "udp sport 67 udp dport 68 drop",
             "ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept"]
    lines.append(f"ip saddr != {{ {', '.join(ipv4)} }} drop" if ipv4 else "ether type ip drop")
    lines += ["ether type ip accept",
              "icmpv6 type nd-router-advert drop",
              "udp sport 547 udp dport 546 drop",
              # :: for duplicate address detection; the link-local address from the MAC.
              f"ip6 saddr != {{ {', '.join(['::', *(_link_local(mac) for mac in macs), *ipv6])} }} drop",
              "ether type ip6 accept",
              "drop"]
    return lines


def _allowed_macs(port: DesiredPort) -> list[str]:
    macs = {port.mac.lower()}
    macs.update((pair.get("mac_address") or port.mac).lower() for pair in port.allowed_address_pairs)
    return sorted(macs)


def _allowed_networks(port: DesiredPort) -> tuple[list[str], list[str]]:
    networks = [ipaddress.ip_network(fixed.ip_address) for fixed in port.fixed_ips]
    networks += [ipaddress.ip_network(pair["ip_address"], strict=False)
                 for pair in port.allowed_address_pairs if pair.get("ip_address")]
    return (_collapse(n for n in networks if n.version == 4), _collapse(n for n in networks if n.version == 6))


def _collapse(networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> list[str]:
    # Overlapping elements in an interval set are an error in nft: merge them first.
    return [str(n.network_address) if n.num_addresses == 1 else str(n)
            for n in ipaddress.collapse_addresses(list(networks))]  # type: ignore[arg-type]


def _link_local(mac: str) -> str:
    octets = [int(part, 16) for part in mac.split(":")]
    octets[0] ^= 0x02
    eui64 = octets[:3] + [0xFF, 0xFE] + octets[3:]
    return str(ipaddress.IPv6Address(bytes([0xFE, 0x80] + [0] * 6 + eui64)))


# -- inet family: conntrack, zones and group rules ------------------------------------------


def _zone_chain(zones: dict[str, int]) -> str:
    if not zones:
        return ""
    # Priority raw (-300) runs before conntrack (-200) picks a zone.
    return _chain("zones", ["type filter hook prerouting priority raw; policy accept;",
                            *(f'iifname "{bridge}" ct zone set {zone}' for bridge, zone in sorted(zones.items()))])


def _dispatch_chains(ports: list[FilteredPort], bridges: list[str]) -> str:
    egress = ", ".join(f"{p.number:#010x} : jump egress_{p.number}" for p in ports)
    ingress = ", ".join(f"{p.number << PORT_BITS:#010x} : jump ingress_{p.number}" for p in ports)
    bridge_set = ", ".join(f'"{b}"' for b in sorted(set(bridges)))
    # With br_netfilter the inet hooks see the bridge as iif/oif: anything else is not ours.
    return (_chain("forward", ["type filter hook forward priority filter; policy accept;",
                               f"iifname != {{ {bridge_set} }} accept",
                               f"meta mark and {_LOW:#x} vmap {{ {egress} }}",
                               f"meta mark and {_HIGH:#x} vmap {{ {ingress} }}"])
            + _chain("input", ["type filter hook input priority filter; policy accept;",
                               f"iifname != {{ {bridge_set} }} accept",
                               f"meta mark and {_LOW:#x} vmap {{ {egress} }}"]))


class _RemoteSets:
    """One nft set per (remote group, IP version) a rule names, from the group's member_ips."""

    def __init__(self, groups: dict[str, DesiredSecurityGroup]) -> None:
        self._groups = groups
        self._names: dict[tuple[str, int], str] = {}

    def name(self, group_id: str, version: int) -> str:
        key = (group_id, version)
        if key not in self._names:
            self._names[key] = f"remote_{len(self._names) + 1}_v{version}"
        return self._names[key]

    def declarations(self) -> str:
        text = ""
        for (group_id, version), name in self._names.items():
            group = self._groups.get(group_id)
            members = [ipaddress.ip_network(ip, strict=False) for ip in (group.member_ips if group else [])]
            elements = _collapse(n for n in members if n.version == version)
            lines = [f"type {'ipv4_addr' if version == 4 else 'ipv6_addr'}", "flags interval"]
            if elements:
                lines.append(f"elements = {{ {', '.join(elements)} }}")
            text += f"\tset {name} {{\n" + "".join(f"\t\t{line}\n" for line in lines) + "\t}\n"
        return text


def _rule_match(rule: DesiredRule, remote_sets: _RemoteSets) -> str | None:
    """The match part of one group rule (no verdict); None when the rule can match nothing here."""
    version = 6 if rule.ethertype == "IPv6" else 4
    ip = "ip6" if version == 6 else "ip"
    peer = "saddr" if rule.direction == "ingress" else "daddr"
    parts = [f"meta nfproto ipv{version}"]
    if rule.remote_ip_prefix:
        network = ipaddress.ip_network(rule.remote_ip_prefix, strict=False)
        if network.version != version:
            return None
        if network.prefixlen:
            parts.append(f"{ip} {peer} {network}")
    if rule.remote_group_id:
        parts.append(f"{ip} {peer} @{remote_sets.name(rule.remote_group_id, version)}")
    protocol = _protocol_match(rule, version)
    if protocol is None:
        return None
    parts += protocol
    return " ".join(parts)


def _protocol_match(rule: DesiredRule, version: int) -> list[str] | None:
    name = (rule.protocol or "").lower()
    if name in _ANY_PROTOCOL:
        return []
    number = int(name) if name.isdigit() else PROTOCOL_NUMBERS.get(name)
    if number is None or not 0 <= number <= 255:
        return None
    if number == 1 and version == 6:
        number = 58  # Neutron accepts "icmp" on an IPv6 rule and means ICMPv6
    low, high = rule.port_range_min, rule.port_range_max
    if number in (1, 58):
        keyword = "icmp" if number == 1 else "icmpv6"
        parts = [f"meta l4proto {'icmp' if number == 1 else 'ipv6-icmp'}"]
        if low is not None:  # for ICMP the "port range" is type and code
            parts.append(f"{keyword} type {low}")
            if high is not None:
                parts.append(f"{keyword} code {high}")
        return parts
    if number in _PORT_PROTOCOLS:
        parts = [f"meta l4proto {_PORT_PROTOCOLS[number]}"]
        if low is not None or high is not None:
            low = low if low is not None else high
            high = high if high is not None else low
            parts.append(f"th dport {low}" if low == high else f"th dport {low}-{high}")
        return parts
    return [f"meta l4proto {number}"]


def _chain(name: str, lines: list[str]) -> str:
    # One statement per line: nft 1.0.6 wants a newline or ';' before a closing brace.
    return f"\tchain {name} {{\n" + "".join(f"\t\t{line}\n" for line in lines) + "\t}\n"
