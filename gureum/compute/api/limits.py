"""/v2.1/limits: the caller's absolute limits and usage (nova has no rate limits any more)."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.compute import quotas
from gureum.compute.api.common import microversion
from gureum.compute.api.common import STRING, check_query
from gureum.compute.api.flavors import enforce
from gureum.http.endpoint import ApiRequest, endpoint

# quota resource -> the names /limits shows its limit under
LIMIT_NAMES: dict[str, tuple[str, ...]] = {
    "ram": ("maxTotalRAMSize",),
    "instances": ("maxTotalInstances",),
    "cores": ("maxTotalCores",),
    "key_pairs": ("maxTotalKeypairs",),
    "floating_ips": ("maxTotalFloatingIps",),
    "metadata_items": ("maxServerMeta", "maxImageMeta"),
    "injected_files": ("maxPersonality",),
    "injected_file_content_bytes": ("maxPersonalitySize",),
    "security_groups": ("maxSecurityGroups",),
    "security_group_rules": ("maxSecurityGroupRules",),
    "server_groups": ("maxServerGroups",),
    "server_group_members": ("maxServerGroupMembers",),
}
USED_NAMES: dict[str, str] = {
    "totalRAMUsed": "ram",
    "totalCoresUsed": "cores",
    "totalInstancesUsed": "instances",
    "totalFloatingIpsUsed": "floating_ips",
    "totalSecurityGroupsUsed": "security_groups",
    "totalServerGroupsUsed": "server_groups",
}


def _hidden(req: ApiRequest) -> tuple[str, ...]:
    version = microversion(req)
    network = ("floating_ips", "security_groups", "security_group_rules")
    if version.at_least(57):
        return network + ("injected_files", "injected_file_content_bytes")
    if version.at_least(36):
        return network
    return ()


def absolute_limits(req: ApiRequest, limits: dict[str, int], used: dict[str, int]) -> dict[str, int]:
    hidden = _hidden(req)
    # maxImageMeta went with the image proxy APIs at 2.39.
    with_image_meta = not microversion(req).at_least(39)
    body: dict[str, int] = {}
    for resource, names in LIMIT_NAMES.items():
        if resource in hidden:
            continue
        for name in names:
            if name == "maxImageMeta" and not with_image_meta:
                continue
            body[name] = limits[resource]
    for name, resource in USED_NAMES.items():
        if resource not in hidden:
            body[name] = used[resource]
    return body


@endpoint(summary="Show rate and absolute limits")
def show_limits(req: ApiRequest) -> dict[str, Any]:
    params = check_query(req, {"tenant_id": STRING})
    enforce(req, "os_compute_api:limits", {})
    project_id = req.context.project_id or ""
    if "tenant_id" in params:
        project_id = params["tenant_id"]
        enforce(req, "os_compute_api:limits:other_project", {})
    with req.cloud.db.session() as session:
        limits = quotas.limits_for(session, project_id)
        used = quotas.usage_for(session, project_id)
    return {"limits": {"rate": [], "absolute": absolute_limits(req, limits, used)}}


def routes() -> list[BaseRoute]:
    return [Route("/v2.1/limits", show_limits, methods=["GET"])]
