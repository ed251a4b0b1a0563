"""What the router, floating IP and agent tests share: HTTP calls and an external network."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from gureum.testing import RunningCloud


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def call(cloud: RunningCloud, method: str, path: str, body: Any = None,
         token: str | bool | None = None) -> tuple[int, Any]:
    """One request to the network API; (status, parsed JSON body or None)."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if token is not False:  # False: no token at all
        headers["X-Auth-Token"] = token or cloud.token()
    req = urllib.request.Request(f"{cloud.base_url}/network{path}", data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            text = resp.read()
            return resp.status, json.loads(text) if text else None
    except urllib.error.HTTPError as exc:
        text = exc.read()
        return exc.code, json.loads(text) if text else None


def ok(cloud: RunningCloud, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    status, answer = call(cloud, method, path, body, token)
    assert 200 <= status < 300, (method, path, status, answer)
    return answer


def member_token(cloud: RunningCloud, env: dict[str, str]) -> str:
    return cloud.token(env["OS_USERNAME"], env["OS_PASSWORD"], env["OS_PROJECT_NAME"])


@dataclass
class External:
    network_id: str
    subnet_id: str
    name: str


def external_network(cloud: RunningCloud, third_octet: int, pool: tuple[int, int] = (20, 50)) -> External:
    """An external flat network (its own physical network name) with a subnet 192.168.N.0/24."""
    name = unique("ext-net")
    net = ok(cloud, "POST", "/v2.0/networks", {"network": {
        "name": name, "router:external": True, "provider:network_type": "flat",
        "provider:physical_network": unique("provider")}})["network"]
    prefix = f"192.168.{third_octet}"
    sub = ok(cloud, "POST", "/v2.0/subnets", {"subnet": {
        "network_id": net["id"], "ip_version": 4, "cidr": f"{prefix}.0/24", "gateway_ip": f"{prefix}.1",
        "enable_dhcp": False,
        "allocation_pools": [{"start": f"{prefix}.{pool[0]}", "end": f"{prefix}.{pool[1]}"}]}})["subnet"]
    return External(net["id"], sub["id"], name)


def private_subnet(cloud: RunningCloud, cidr: str, token: str | None = None, **extra: Any) -> dict[str, Any]:
    """A project network with one subnet on cidr (gateway .1 unless given); answers the subnet."""
    net = ok(cloud, "POST", "/v2.0/networks", {"network": {"name": unique("net")}}, token)["network"]
    return ok(cloud, "POST", "/v2.0/subnets", {"subnet": {
        "network_id": net["id"], "ip_version": 4, "cidr": cidr, **extra}}, token)["subnet"]


def router(cloud: RunningCloud, token: str | None = None, **attrs: Any) -> dict[str, Any]:
    return ok(cloud, "POST", "/v2.0/routers", {"router": {"name": unique("router"), **attrs}}, token)["router"]
