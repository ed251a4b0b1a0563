"""Neutron's default policy rule names with its 2024 (secure RBAC) defaults.

Visibility of shared and external networks is decided in the service (neutron's
`field:networks:shared=True` checks have no equivalent in our rule language); the
rules here cover actions and the attributes only an admin may set or see.
Targets carry `project_id` (the resource's project) and, where it matters,
`network_project_id` (the owner of the port's network).
"""

from __future__ import annotations

ADMIN = "role:admin"
MEMBER = "role:admin or (role:member and project_id:%(project_id)s)"
READER = "role:admin or (role:reader and project_id:%(project_id)s) or (role:member and project_id:%(project_id)s)"
NET_OWNER_MEMBER = "role:admin or (role:member and project_id:%(network_project_id)s)"

NETWORK_POLICIES: dict[str, str] = {}


def _resource(name: str, create: str = MEMBER, read: str = READER, update: str = MEMBER,
              delete: str = MEMBER) -> None:
    NETWORK_POLICIES[f"create_{name}"] = create
    NETWORK_POLICIES[f"get_{name}"] = read
    NETWORK_POLICIES[f"update_{name}"] = update
    NETWORK_POLICIES[f"delete_{name}"] = delete


_resource("network")
_resource("subnet")
_resource("port")
_resource("security_group")
_resource("security_group_rule")
_resource("router")
_resource("floatingip")
_resource("agent", create=ADMIN, read=ADMIN, update=ADMIN, delete=ADMIN)

for _action in ("create", "update"):
    for _attr in ("shared", "router:external", "provider:network_type", "provider:physical_network",
                  "provider:segmentation_id", "segments", "availability_zone_hints"):
        NETWORK_POLICIES[f"{_action}_network:{_attr}"] = ADMIN if _attr != "availability_zone_hints" else MEMBER
    for _attr in ("binding:host_id", "binding:profile"):
        NETWORK_POLICIES[f"{_action}_port:{_attr}"] = ADMIN
    NETWORK_POLICIES[f"{_action}_port:mac_address"] = NET_OWNER_MEMBER
    NETWORK_POLICIES[f"{_action}_port:fixed_ips:ip_address"] = NET_OWNER_MEMBER
    # Checked only for network:* owners (router, DHCP), as neutron's rule has it.
    NETWORK_POLICIES[f"{_action}_port:device_owner"] = NET_OWNER_MEMBER
    NETWORK_POLICIES[f"{_action}_port:port_security_enabled"] = NET_OWNER_MEMBER
    NETWORK_POLICIES[f"{_action}_port:binding:vnic_type"] = MEMBER

# Any project member may attach its router to an external network; only an admin picks
# the gateway's addresses or turns SNAT off (neutron's ext-gw-mode defaults).
for _action in ("create", "update"):
    NETWORK_POLICIES[f"{_action}_router:external_gateway_info"] = MEMBER
    NETWORK_POLICIES[f"{_action}_router:external_gateway_info:network_id"] = MEMBER
    NETWORK_POLICIES[f"{_action}_router:external_gateway_info:enable_snat"] = ADMIN
    NETWORK_POLICIES[f"{_action}_router:external_gateway_info:external_fixed_ips"] = ADMIN
NETWORK_POLICIES["add_router_interface"] = MEMBER
NETWORK_POLICIES["remove_router_interface"] = MEMBER
NETWORK_POLICIES["add_extraroutes"] = MEMBER
NETWORK_POLICIES["remove_extraroutes"] = MEMBER
NETWORK_POLICIES["create_floatingip:floating_ip_address"] = ADMIN
NETWORK_POLICIES["get_l3-routers"] = ADMIN
NETWORK_POLICIES["get_l3-agents"] = ADMIN

for _attr in ("provider:network_type", "provider:physical_network", "provider:segmentation_id", "segments"):
    NETWORK_POLICIES[f"get_network:{_attr}"] = ADMIN
for _attr in ("binding:host_id", "binding:vif_type", "binding:vif_details", "binding:profile"):
    NETWORK_POLICIES[f"get_port:{_attr}"] = ADMIN

NETWORK_POLICIES.update({
    "get_quota": READER,
    "update_quota": ADMIN,
    "delete_quota": ADMIN,
    "get_extension": "@",
    "get_availability_zone": "@",
})
