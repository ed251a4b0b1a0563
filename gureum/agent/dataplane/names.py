"""Names of everything the dataplane makes, derived from Neutron ids.

Linux interface names hold at most 15 characters, so device names take the
first 11 characters of an id after a 3-character kind, as Neutron's Linux
bridge agent does: the same port always gets the same tap, on any host, and a
reader can tell a device's port from its name.

Devices live in the host namespace (or in a router or DHCP namespace), so
they need no prefix. Namespace names are global to the machine and nftables
table names global to the namespace: those carry the dataplane's name_prefix,
so two dataplanes (tests running side by side) never meet.
"""

from __future__ import annotations

import re

MAX_IFNAME = 15
_ID_CHARS = 11

# Every device the dataplane creates carries this alias (IFLA_IFALIAS) with its
# prefix, so garbage collection finds its own devices and nobody else's.
OWNER_ALIAS = "gureum-dataplane"

ROUTER_NS = "qrouter-"
DHCP_NS = "qdhcp-"
# The address every guest asks for its metadata.
METADATA_ADDRESS = "169.254.169.254"


def bridge_name(network_id: str) -> str:
    return "brq" + network_id[:_ID_CHARS]


def tap_name(port_id: str) -> str:
    """The host end of any port: a guest's tap, or the host end of a router or DHCP leg."""
    return "tap" + port_id[:_ID_CHARS]


def router_interface_name(port_id: str) -> str:
    return "qr-" + port_id[:_ID_CHARS]


def router_gateway_name(port_id: str) -> str:
    return "qg-" + port_id[:_ID_CHARS]


def dhcp_leg_name(port_id: str) -> str:
    return "ns-" + port_id[:_ID_CHARS]


def vxlan_name(vni: int) -> str:
    return f"vx-{vni}"


def vlan_name(device: str, vlan_id: int) -> str:
    """`<device>.<vid>` like vconfig's default, the device shortened to fit."""
    suffix = f".{vlan_id}"
    return device[:MAX_IFNAME - len(suffix)] + suffix


def router_namespace(prefix: str, router_id: str) -> str:
    return f"{prefix}{ROUTER_NS}{router_id}"


def dhcp_namespace(prefix: str, network_id: str) -> str:
    return f"{prefix}{DHCP_NS}{network_id}"


def owner_alias(prefix: str) -> str:
    return f"{OWNER_ALIAS}:{prefix}"


def table_name(prefix: str, kind: str) -> str:
    """An nftables table name: letters, digits and underscores only."""
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{prefix}gureum_{kind}")


def check_ifname(name: str) -> str:
    if not name or len(name) > MAX_IFNAME:
        raise ValueError(f"interface name {name!r} must have 1 to {MAX_IFNAME} characters")
    return name
