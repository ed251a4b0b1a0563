"""The overview: what is broken or changing first, then quotas and usage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from gureum.dashboard.client import ApiResponse
from gureum.dashboard.web import Page, page

# Changing states the servers API filters on (its status filter is by vm_state; a reboot or
# stop in progress on an ACTIVE server shows live on the instances list).
TRANSITIONAL = ("BUILD", "VERIFY_RESIZE")
WARN_AT = 0.8
# The attention list shows this many of each kind, then links to the full list.
SHOWN = 20


@dataclass
class Quota:
    label: str
    used: float
    limit: float
    unit: str = ""

    @property
    def unlimited(self) -> bool:
        return self.limit < 0

    @property
    def fraction(self) -> float:
        if self.unlimited or self.limit == 0:
            return 0.0 if self.limit else (1.0 if self.used else 0.0)
        return min(1.0, self.used / self.limit)

    @property
    def percent(self) -> int:
        return round(self.fraction * 100)

    @property
    def tone(self) -> str:
        return "bad" if self.fraction >= 0.9 else "warn" if self.fraction >= WARN_AT else "ok"


def compute_quotas(limits: dict[str, Any]) -> list[Quota]:
    absolute = limits.get("limits", {}).get("absolute", {})
    pairs = [("Instances", "totalInstancesUsed", "maxTotalInstances", ""),
             ("vCPUs", "totalCoresUsed", "maxTotalCores", ""),
             ("RAM", "totalRAMUsed", "maxTotalRAMSize", "MiB")]
    return [Quota(label, absolute.get(used, 0), absolute.get(limit, -1), unit)
            for label, used, limit, unit in pairs if limit in absolute]


NETWORK_QUOTAS = (("network", "Networks"), ("subnet", "Subnets"), ("port", "Ports"), ("router", "Routers"),
                  ("floatingip", "Floating IPs"), ("security_group", "Security groups"),
                  ("security_group_rule", "Security group rules"))


def network_quotas(details: ApiResponse) -> list[Quota]:
    if not details.ok:
        return []
    quota = details.json().get("quota", {})
    return [Quota(label, quota[key].get("used", 0), quota[key].get("limit", -1))
            for key, label in NETWORK_QUOTAS if isinstance(quota.get(key), dict)]


def silent_hosts(services: ApiResponse) -> list[dict[str, Any]]:
    if not services.ok:
        return []
    return [s for s in services.json().get("services", [])
            if s.get("binary") == "nova-compute" and (s.get("state") == "down" or s.get("forced_down"))]


@page
async def overview(p: Page) -> Response:
    # What needs attention only, filtered and bounded in the API's SQL: not every server.
    calls = [p.api.get_json("/compute/v2.1/servers/detail", "Listing broken instances", status="ERROR",
                            limit=str(SHOWN + 1)),
             p.api.get_json("/compute/v2.1/limits", "Reading compute limits"),
             p.api.call("GET", f"/network/v2.0/quotas/{p.project_id}/details.json")]
    if p.viewer.is_admin:
        calls.append(p.api.call("GET", "/compute/v2.1/os-services"))
    calls += [p.api.get_json("/compute/v2.1/servers/detail", "Listing changing instances", status=status,
                             limit=str(SHOWN + 1)) for status in TRANSITIONAL]
    results = await p.api.gather(*calls)
    broken = results[0]["servers"]
    changing = [s for r in results[-len(TRANSITIONAL):] for s in r["servers"]]
    quotas = compute_quotas(results[1]) + network_quotas(results[2])
    hosts = silent_hosts(results[3]) if p.viewer.is_admin else []
    absolute = results[1].get("limits", {}).get("absolute", {})
    high = [q for q in quotas if not q.unlimited and q.fraction >= WARN_AT]
    return p.render("overview.html", title="Overview", broken=broken, changing=changing, quotas=quotas,
                    high=high, hosts=hosts, server_count=absolute.get("totalInstancesUsed", 0), shown=SHOWN,
                    more_broken=len(broken) > SHOWN, more_changing=len(changing) > SHOWN)
