"""Version discovery, /v2.0 resources, extensions and availability zones."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import NotFound

UPDATED = "2024-01-01T00:00:00-00:00"

# Only what gureum really implements: clients decide what to send from this list.
EXTENSIONS: tuple[tuple[str, str, str], ...] = (
    ("external-net", "Neutron external network", "Adds external network attribute to network resource."),
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical networks"),
    ("security-group", "security-group", "The security groups extension."),
    ("quotas", "Quota management support", "Expose functions for quotas management per project"),
    ("quota_details", "Quota details management support", "Expose functions for quotas usage statistics per project"),
    ("quota-check-limit", "Quota engine limit check", "Support for checking the resource usage before applying a new quota limit"),
    ("port-security", "Port Security", "Provides port security"),
    ("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external application"),
    ("standard-attr-description", "standard-attr-description", "Extension to add descriptions to standard attributes"),
    ("standard-attr-timestamp", "Resource timestamps", "Adds created_at and updated_at fields to all Neutron resources"),
    ("standard-attr-revisions", "Resource revision numbers", "This extension will display the revision number of neutron resources."),
    ("network_availability_zone", "Network Availability Zone", "Availability zone support for network."),
    ("availability_zone", "Availability Zone", "The availability zone extension."),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id field is enabled."),
    ("pagination", "Pagination support", "Extension that indicates that pagination is enabled."),
    ("sorting", "Sorting support", "Extension that indicates that sorting is enabled."),
    ("fields", "fields", "Extension that indicates that fields filtering is supported."),
    ("router", "Neutron L3 Router", ("Router abstraction for basic L3 forwarding between L2 Neutron networks "
                                     "and access to external networks via a NAT gateway.")),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode",
     "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway"),
    ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"),
    ("extraroute-atomic", "Atomically add/remove extra routes",
     "Edit extra routes of a router on server side by atomically adding/removing extra routes"),
    ("router_availability_zone", "Router Availability Zone", "Availability zone support for router."),
    ("fip-port-details", "Floating IP Port Details Extension", "Add port_details attribute to Floating IP resource"),
    ("agent", "agent", "The agent management extension."),
    ("subnet-external-network", "Subnet External Network",
     "Informs if the subnet is associated to an external network."),
)


def _ext(alias: str, name: str, description: str) -> dict[str, Any]:
    return {"alias": alias, "name": name, "description": description, "updated": UPDATED, "links": []}


@endpoint(auth=False)
def versions(req: ApiRequest) -> Any:
    """Neutron's version list."""
    return {"versions": [{"id": "v2.0", "status": "CURRENT",
                          "links": [{"href": f"{req.base_url}/v2.0/", "rel": "self"}]}]}


RESOURCES = ("subnet", "network", "port", "security_group", "security_group_rule", "quota", "extension",
             "availability_zone", "router", "floatingip", "agent")


@endpoint()
def v2(req: ApiRequest) -> Any:
    """The collections of the v2.0 API."""
    items = []
    for name in RESOURCES:
        collection = name + "s"
        path = collection.replace("_", "-") if name.startswith("security_group") else collection
        items.append({"name": name, "collection": collection,
                      "links": [{"href": f"{req.base_url}/v2.0/{path}", "rel": "self"}]})
    return {"resources": items}


@endpoint()
def list_extensions(req: ApiRequest) -> Any:
    """The extensions gureum implements."""
    return {"extensions": [_ext(*e) for e in EXTENSIONS]}


@endpoint()
def show_extension(req: ApiRequest) -> Any:
    """One extension by alias."""
    for ext in EXTENSIONS:
        if ext[0] == req.path["alias"]:
            return {"extension": _ext(*ext)}
    raise NotFound(f"Extension with alias {req.path['alias']} does not exist", kind="HTTPNotFound")


@endpoint()
def availability_zones(req: ApiRequest) -> Any:
    """Network availability zones: one, 'nova'."""
    zones = [{"name": "nova", "resource": "network", "state": "available"}]
    for key in ("name", "resource", "state"):
        wanted = req.query.getlist(key)
        if wanted:
            zones = [z for z in zones if z[key] in wanted]
    return {"availability_zones": zones}


def routes() -> list[BaseRoute]:
    return [
        Route("/", versions, methods=["GET"]),
        Route("/v2.0", v2, methods=["GET"]),
        Route("/v2.0/", v2, methods=["GET"]),
        Route("/v2.0/extensions", list_extensions, methods=["GET"]),
        Route("/v2.0/extensions/{alias}", show_extension, methods=["GET"]),
        Route("/v2.0/availability_zones", availability_zones, methods=["GET"]),
    ]
