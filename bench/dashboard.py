"""Dashboard figures: every page's server time, click-on-Launch to the ACTIVE row, first paint.

Part 1 (in-process, no agent): a Cloud on SQLite holding 500 servers (no host runs them, so
they end ERROR: the overview lists every one of them first), 100 networks with a subnet each
and 50 routers, all made through the APIs. Each page is fetched through the app with a raw
ASGI call (the dashboard's own helper, nothing of a network in it) and timed: p50 and p99.

Part 2 (a real `gureum up` and Debian's chromium, skipped without it): log in and time the
first contentful paint of the overview; click Launch and time the ACTIVE row, minus the
guest's own boot (the moment the compute API itself first says ACTIVE, polled beside it).

    .venv/bin/python bench/dashboard.py [--servers 500] [--rounds 30] [--no-browser]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gureum.app import build_app  # noqa: E402
from gureum.cloud import Cloud  # noqa: E402
from gureum.config import Settings  # noqa: E402
from gureum.dashboard.client import ApiClient  # noqa: E402
from gureum.identity.bootstrap import read_admin_password  # noqa: E402

PAGES = ["/dashboard/", "/dashboard/instances/", "/dashboard/launch", "/dashboard/images/", "/dashboard/networks/",
         "/dashboard/routers/", "/dashboard/floating-ips/", "/dashboard/security-groups/", "/dashboard/keypairs/",
         "/dashboard/topology/", "/dashboard/api-access/", "/dashboard/admin/", "/dashboard/admin/flavors/",
         "/dashboard/admin/identity/", "/dashboard/admin/quotas/", "/dashboard/admin/agents/"]

API_CALLS = ["/identity/v3/auth/projects", "/compute/v2.1/servers/detail", "/compute/v2.1/limits",
             "/image/v2/images", "/network/v2.0/networks", "/network/v2.0/subnets", "/network/v2.0/routers",
             "/network/v2.0/ports", "/network/v2.0/floatingips", "/compute/v2.1/flavors/detail"]


async def fill(api: ApiClient, servers: int, networks: int, routers: int) -> str:
    """Everything through the APIs, as the CLI would; returns the admin project id."""
    async def ok(method: str, path: str, body: Any = None) -> Any:
        answer = await api.call(method, path, json_body=body)
        assert answer.ok, f"{method} {path}: {answer.status} {answer.body[:300]!r}"
        return answer.json()

    token = await api.call("GET", "/identity/v3/auth/tokens", headers={"x-subject-token": api.token or ""})
    project = token.json()["token"]["project"]["id"]
    await ok("PUT", f"/compute/v2.1/os-quota-sets/{project}", {"quota_set": {"instances": -1, "cores": -1, "ram": -1}})
    await ok("PUT", f"/network/v2.0/quotas/{project}", {"quota": {"network": -1, "subnet": -1, "router": -1,
                                                                  "port": -1}})
    image = await ok("POST", "/image/v2/images", {"name": "bench-image", "disk_format": "raw",
                                                  "container_format": "bare"})
    await api.call("PUT", f"/image/v2/images/{image['id']}/file", body=b"\0" * 4096,
                   headers={"content-type": "application/octet-stream"})
    ext = (await ok("POST", "/network/v2.0/networks", {"network": {"name": "public", "router:external": True}}))
    await ok("POST", "/network/v2.0/subnets", {"subnet": {"network_id": ext["network"]["id"], "cidr": "203.0.113.0/24",
                                                          "ip_version": 4}})
    subnet_ids = []
    for i in range(networks):
        net = (await ok("POST", "/network/v2.0/networks", {"network": {"name": f"net-{i:03d}"}}))["network"]
        subnet = await ok("POST", "/network/v2.0/subnets", {"subnet": {
            "network_id": net["id"], "cidr": f"10.{i // 250}.{i % 250}.0/24", "ip_version": 4}})
        subnet_ids.append(subnet["subnet"]["id"])
    for i in range(routers):
        router = (await ok("POST", "/network/v2.0/routers", {"router": {
            "name": f"router-{i:02d}", "external_gateway_info": {"network_id": ext["network"]["id"]}}}))["router"]
        await ok("PUT", f"/network/v2.0/routers/{router['id']}/add_router_interface", {"subnet_id": subnet_ids[i]})
    flavor = (await ok("GET", "/compute/v2.1/flavors"))["flavors"][0]["id"]
    batch = 50
    for start in range(0, servers, batch):
        count = min(batch, servers - start)
        await ok("POST", "/compute/v2.1/servers", {"server": {
            "name": f"srv-{start:03d}", "imageRef": image["id"], "flavorRef": flavor, "networks": "none",
            "min_count": count, "max_count": count}})
    return project


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


async def time_pages(app: Any, cookie: str, rounds: int) -> list[tuple[str, float, float, int]]:
    client = ApiClient(app, None, {"scheme": "http", "headers": [(b"host", b"bench")]})
    rows = []
    for path in PAGES:
        times = []
        size = 0
        for _ in range(rounds):
            started = time.perf_counter()
            answer = await client.call("GET", path, headers={"cookie": f"gureum_token={cookie}", "accept": "text/html"})
            times.append((time.perf_counter() - started) * 1000)
            assert answer.status == 200, f"{path}: {answer.status} {answer.body[:300]!r}"
            size = len(answer.body)
        rows.append((path, statistics.median(times), percentile(times, 0.99), size))
    return rows


def part_one(servers: int, networks: int, routers: int, rounds: int) -> None:
    logging.getLogger("gureum").setLevel(logging.ERROR)  # 500 "not placed" warnings: expected here
    state = Path(tempfile.mkdtemp(prefix="bench-dash-"))
    cloud = Cloud(Settings(state_dir=state / "state"))
    cloud.start()
    app = build_app(cloud)

    async def run() -> None:
        anonymous = ApiClient(app, None, {"scheme": "http", "headers": [(b"host", b"bench")]})
        answer = await anonymous.call("POST", "/identity/v3/auth/tokens", json_body={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": read_admin_password(cloud)}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
        token = answer.headers["x-subject-token"]
        started = time.perf_counter()
        await fill(ApiClient(app, token, {"scheme": "http", "headers": [(b"host", b"bench")]}), servers, networks,
                   routers)
        print(f"made {servers} servers, {networks} networks, {routers} routers in "
              f"{time.perf_counter() - started:.1f} s (through the APIs)")
        await asyncio.sleep(3)  # let the scheduler settle every server (ERROR: no host)
        rows = await time_pages(app, token, rounds)
        print(f"\npage server time over {rounds} rounds (raw ASGI, in-process)")
        print(f"{'page':34} {'p50 ms':>8} {'p99 ms':>8} {'KiB':>7}")
        for path, p50, p99, size in rows:
            print(f"{path:34} {p50:8.1f} {p99:8.1f} {size / 1024:7.1f}")
        print("\nthe API calls those pages make, alone (same client, same token)")
        api = ApiClient(app, token, {"scheme": "http", "headers": [(b"host", b"bench")]})
        for path in API_CALLS:
            times = []
            for _ in range(rounds):
                started = time.perf_counter()
                answer = await api.call("GET", path)
                times.append((time.perf_counter() - started) * 1000)
                assert answer.ok, path
            print(f"{path:44} p50 {statistics.median(times):7.1f} ms  p99 {percentile(times, 0.99):7.1f} ms")
        over = [path for path, p50, _p99, _size in rows if p50 >= 50]
        print(f"pages with p50 >= 50 ms: {', '.join(over) if over else 'none'}")

    asyncio.run(run())
    cloud.close()


def part_two() -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("\nbrowser part skipped: playwright is not installed")
        return
    from gureum.testing import remove_state, start_cloud, wait_for_compute
    from tests.dashboard.browser.conftest import QUIET_FLAGS, chromium_binary

    binary = chromium_binary()
    if binary is None:
        print("\nbrowser part skipped: Debian's chromium is not installed")
        return
    state = Path(tempfile.mkdtemp(prefix="bd-", dir="/tmp"))
    cloud = start_cloud(state)
    try:
        wait_for_compute(cloud)
        cloud.openstack("network", "create", "bench-net")
        cloud.openstack("subnet", "create", "--network", "bench-net", "--subnet-range", "10.88.0.0/24", "bench-v4")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=binary, headless=True, args=QUIET_FLAGS)
            page = browser.new_page(base_url=cloud.base_url)
            page.goto("/dashboard/login")
            page.get_by_label("User name").fill("admin")
            page.get_by_label("Password").fill(cloud.admin_password)
            clicked = time.perf_counter()
            page.get_by_role("button", name="Log in").click()
            page.wait_for_function("performance.getEntriesByType('paint').some(e => e.name === 'first-contentful-paint')")
            fcp = page.evaluate("performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint').startTime")
            after_login = (time.perf_counter() - clicked) * 1000
            print(f"\nfirst contentful paint of the overview: {fcp:.0f} ms after its navigation started; "
                  f"{after_login:.0f} ms from the Log in click to that paint")
            page.goto("/dashboard/launch")
            name = f"bench-{uuid.uuid4().hex[:6]}"
            page.get_by_label("Name").fill(name)
            api_active: dict[str, float] = {}

            def watch() -> None:
                token = cloud.token()
                import json
                import urllib.request
                while "t" not in api_active:
                    request = urllib.request.Request(f"{cloud.base_url}/compute/v2.1/servers/detail?name={name}",
                                                     headers={"X-Auth-Token": token})
                    with urllib.request.urlopen(request, timeout=10) as answer:
                        found = json.loads(answer.read())["servers"]
                    if found and found[0]["status"] == "ACTIVE":
                        api_active["t"] = time.perf_counter()
                    time.sleep(0.05)

            clicked = time.perf_counter()
            page.get_by_role("button", name="Launch", exact=True).click()
            page.wait_for_url(re.compile(r"/dashboard/instances/"))
            listed = time.perf_counter()
            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            row = page.locator("tr", has=page.get_by_role("link", name=name, exact=True))
            row.locator(".status", has_text="ACTIVE").wait_for(timeout=300_000)
            shown = time.perf_counter()
            watcher.join(timeout=10)
            boot = api_active.get("t", shown) - listed
            print(f"click on Launch -> instance listed (BUILD): {(listed - clicked) * 1000:.0f} ms")
            print(f"click on Launch -> ACTIVE row: {(shown - clicked):.1f} s, of which the guest's boot "
                  f"(until the API said ACTIVE) {boot:.1f} s; the dashboard's own part: "
                  f"{(shown - clicked - boot) * 1000:.0f} ms (list page + the event stream's delay "
                  f"{(shown - api_active.get('t', shown)) * 1000:.0f} ms)")
            browser.close()
        cloud.openstack("server", "delete", name, check=False)
    finally:
        cloud.stop()
        remove_state(state)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=500)
    parser.add_argument("--networks", type=int, default=100)
    parser.add_argument("--routers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    part_one(args.servers, args.networks, args.routers, args.rounds)
    if not args.no_browser:
        part_two()


if __name__ == "__main__":
    main()
