"""The all-in-one host's external side: its provider bridges, and opt-in NAT to the uplink.

An agent refuses a mapping to a bridge that does not exist (a typo must not
become a new, unconnected bridge). The all-in-one cloud's own default mapping
is different: nobody made that bridge but gureum, so `gureum up` makes it
before its agent starts, and flat networks work untouched.

With `--external-gateway 203.0.113.1/24` (opt-in, like libvirt's NAT network in
the seed), `gureum up` also gives the first mapped bridge that address and
masquerades the external network out through whatever the host routes through,
so floating IPs answer from this host with no manual routes and guests reach the
outside through their router's SNAT and then the host's. It changes the host:
IPv4 forwarding on, one nft table of ours (`ip gureum_external`). Hosts whose
FORWARD policy drops (Docker's) must also accept the bridge's traffic there.
"""

from __future__ import annotations

import ipaddress
import logging
import subprocess
from pathlib import Path

from gureum.agent.dataplane import nft
from gureum.agent.dataplane.netns import write_sysctl

log = logging.getLogger(__name__)

EXTERNAL_TABLE = "gureum_external"


def _ip(netns: str, *args: str) -> subprocess.CompletedProcess[str]:
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    return subprocess.run([*prefix, *args], capture_output=True, text=True)


def ensure_provider_bridges(netns: str, mappings: dict[str, str]) -> None:
    """Make each mapped bridge (and the namespace) if missing; log, never raise: the agent says what is wrong."""
    if netns and not (Path("/run/netns") / netns).exists():
        result = subprocess.run(["ip", "netns", "add", netns], capture_output=True, text=True)
        if result.returncode != 0:
            log.error("could not create the agent's namespace %s: %s", netns, result.stderr.strip())
            return
        _ip(netns, "link", "set", "lo", "up")
    for physnet, bridge in mappings.items():
        if _ip(netns, "link", "show", "dev", bridge).returncode == 0:
            continue
        made = _ip(netns, "link", "add", bridge, "type", "bridge")
        if made.returncode != 0:
            log.error("could not create bridge %s for physical network %s: %s", bridge, physnet, made.stderr.strip())
            continue
        _ip(netns, "link", "set", bridge, "up")
        log.info("made bridge %s for physical network %s", bridge, physnet)


def parse_gateway(value: str) -> ipaddress.IPv4Interface:
    try:
        gateway = ipaddress.IPv4Interface(value)
    except ValueError as exc:
        raise ValueError(f"--external-gateway {value!r}: write the external subnet's gateway with its prefix, "
                         "e.g. 203.0.113.1/24") from exc
    if gateway.network.prefixlen >= 31 or gateway.ip in (gateway.network.network_address,
                                                        gateway.network.broadcast_address):
        raise ValueError(f"--external-gateway {value!r}: the address must be a host of a network of /30 or wider")
    return gateway


def ensure_external_gateway(netns: str, bridge: str, gateway: ipaddress.IPv4Interface) -> None:
    """The bridge holds the gateway address; traffic from its network leaving any other way is masqueraded."""
    if str(gateway) not in _ip(netns, "-4", "-o", "addr", "show", "dev", bridge).stdout:
        added = _ip(netns, "addr", "add", str(gateway), "dev", bridge)
        if added.returncode != 0:
            log.error("could not give %s the external gateway %s: %s", bridge, gateway, added.stderr.strip())
            return
    write_sysctl(netns or None, "net.ipv4.ip_forward", "1")
    body = (
        "  chain postrouting {\n"
        "    type nat hook postrouting priority srcnat; policy accept;\n"
        # Frames bridged inside the dataplane (br_netfilter shows them to this hook, leaving
        # through a tap or a tenant bridge) are not leaving the host: never rewrite those.
        f'    ip saddr {gateway.network} oifname != {{ "{bridge}", "brq*", "tap*", "vx-*" }} masquerade\n'
        "  }\n"
    )
    try:
        nft.replace_tables(netns or None, {("ip", EXTERNAL_TABLE): body})
    except nft.NftError as exc:
        log.error("could not set up NAT for the external network %s: %s", gateway.network, exc)
        return
    log.info("external network %s: gateway %s on %s, masqueraded out through the host's routes",
             gateway.network, gateway.ip, bridge)
