#!/usr/bin/env python3
"""Identity token figures against a real `gureum up` this script starts on a temp dir.

Measures, each with 1, 16 and 64 concurrent clients (threads, one keep-alive
connection each):
  - token issue, password method  (POST /identity/v3/auth/tokens, project scope)
  - token issue, token method     (POST /identity/v3/auth/tokens with a token)
  - token validate                (GET /identity/v3/auth/tokens, X-Subject-Token)
and prints p50, p99, requests per second and the errors (status >= 400 or a broken
connection; the target is none at any concurrency) beside each line; then the controller's idle RSS after
the load, and the time `gureum up` takes to answer /identity/v3 on existing state
(stopped and started again on the same state dir). Targets are printed beside.

    .venv/bin/python bench/identity_tokens.py [--seconds 5] [--clients 1,16,64] [--restarts 3]
        [--database-url postgresql://...]

The clients run in this process; on a 2-core machine they share the CPU with the
server, so the figures are what one box does end to end, not the server alone.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gureum.testing import VENV_BIN, RunningCloud, free_port, remove_state

TARGETS = {
    "validate_p50_ms": 1.0,
    "validate_rps_16": 400.0,
    "password_overhead_ms": 5.0,  # over one argon2 verify
    "token_issue_p50_ms": 5.0,
    "idle_rss_mb": 120.0,
    "ready_s": 3.0,
}


# -- the cloud -------------------------------------------------------------------------


def launch(state_dir: Path, port: int, extra_args: tuple[str, ...] = (),
           timeout: float = 60.0) -> tuple[RunningCloud, float]:
    """Start `gureum up` as gureum.testing.start_cloud does; poll every 10 ms; time to first answer."""
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "gureum-up.log"
    log_file = open(log_path, "ab")  # noqa: SIM115 - the child process owns it
    cmd = [str(VENV_BIN / "gureum"), "up", "--state-dir", str(state_dir), "--listen", f"127.0.0.1:{port}",
           "--clouds-yaml", str(state_dir / "clouds.yaml"), *extra_args]
    started = time.perf_counter()
    process = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT)
    cloud = RunningCloud(state_dir=state_dir, port=port, process=process, log_path=log_path)
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gureum up exited with {process.returncode}:\n{cloud.log()}")
        try:
            with urllib.request.urlopen(f"{cloud.base_url}/identity/v3", timeout=2):
                return cloud, time.perf_counter() - started
        except OSError:
            time.sleep(0.01)
    cloud.stop()
    raise RuntimeError(f"gureum up did not answer within {timeout} s:\n{cloud.log()}")


def wait_for_guest_image(cloud: RunningCloud, timeout: float) -> str:
    """`gureum up` builds and registers its guest image in the background after it is
    ready; that work would share the CPU with the measurements, so wait it out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = cloud.log()
        if "is ready to boot" in log:
            return "registered"
        if "could not build or register the guest image" in log:
            return "failed"
        if "--no-guest-image" in cloud.process.args:
            return "skipped"
        time.sleep(0.5)
    return f"still building after {timeout:.0f} s"


def self_reported_ready(cloud: RunningCloud) -> float | None:
    """The last "ready in X s" the controller logged (from its own start, after interpreter start-up)."""
    # The controller's logger is "gureum"; the agent, logging to the same file, has its own.
    found = [line for line in cloud.log().splitlines() if " gureum: ready in " in line]
    if not found:
        return None
    try:
        return float(found[-1].rsplit(" gureum: ready in ", 1)[1].split()[0])
    except (IndexError, ValueError):
        return None


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return kids


def process_name(pid: int) -> str:
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        return " ".join(a.decode(errors="replace") for a in args[:4] if a)
    except OSError:
        return "?"


# -- load ------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    clients: int
    latencies: list[float]
    seconds: float
    errors: int
    error_kinds: dict[str, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


Request = Callable[[http.client.HTTPConnection], int]


def run_load(name: str, port: int, make_request: Request, clients: int, seconds: float,
             min_requests: int = 0) -> Result:
    """`clients` threads, each on its own keep-alive connection, until the time is up."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    kinds: list[Counter[str]] = [Counter() for _ in range(clients)]
    start_gate = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        conn.connect()
        start_gate.wait()
        mine = latencies[i]
        while True:
            now = time.perf_counter()
            if now >= stop_at[0] and len(mine) >= min_requests:
                break
            t0 = time.perf_counter()
            try:
                status = make_request(conn)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                errors[i] += 1
                kinds[i]["connection"] += 1
                continue
            elapsed = time.perf_counter() - t0
            if status >= 400:
                errors[i] += 1
                kinds[i][str(status)] += 1
            else:
                mine.append(elapsed)
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    start_gate.wait()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    return Result(name, clients, [x for per in latencies for x in per], wall, sum(errors), dict(sum(kinds, Counter())))


def post_json(conn: http.client.HTTPConnection, path: str, body: dict[str, Any],
              headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPResponse, bytes]:
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json", **(headers or {})})
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, resp, data


def password_auth(password: str) -> dict[str, Any]:
    return {"auth": {
        "identity": {"methods": ["password"],
                     "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
    }}


def token_auth(token: str) -> dict[str, Any]:
    return {"auth": {
        "identity": {"methods": ["token"], "token": {"id": token}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}},
    }}


def argon2_verify_ms(samples: int = 10) -> float:
    """One argon2 verify with the controller's default parameters, in this process."""
    from gureum.config import Settings  # noqa: PLC0415
    from gureum.identity.passwords import SecretHasher  # noqa: PLC0415

    settings = Settings()
    hasher = SecretHasher(settings.password_hash_memory_kib, settings.password_hash_time_cost)
    stored = hasher.hash("benchmark-secret")
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        hasher.verify(stored, "benchmark-secret")
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


# -- report ----------------------------------------------------------------------------


def describe_errors(r: Result) -> str:
    if not r.errors:
        return "0 errors"
    return f"{r.errors} errors: " + ", ".join(f"{n}x {kind}" for kind, n in sorted(r.error_kinds.items()))


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per scenario (default 5)")
    parser.add_argument("--clients", default="1,16,64", help="concurrency levels (default 1,16,64)")
    parser.add_argument("--database-url", help="run the controller on this database (default: SQLite in the state dir)")
    parser.add_argument("--restarts", type=int, default=3, help="restarts on existing state to time (default 3)")
    parser.add_argument("--state-dir", type=Path, help="use (and keep) this state dir instead of a temp one")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    parser.add_argument("--no-guest-image", action="store_true",
                        help="pass --no-guest-image to gureum up (else wait for its background build first)")
    parser.add_argument("--no-agent", action="store_true", help="pass --no-agent to gureum up")
    args = parser.parse_args(argv)
    extra = tuple(flag for flag, on in (("--no-guest-image", args.no_guest_image), ("--no-agent", args.no_agent)) if on)
    if args.database_url:
        extra += ("--database-url", args.database_url)
    levels = [int(x) for x in args.clients.split(",") if x.strip()]

    state = args.state_dir or Path(tempfile.mkdtemp(prefix="gbench-", dir="/tmp"))
    port = free_port()
    print(f"state {state}, port {port}, {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f}", flush=True)
    cloud, first_ready = launch(state, port, extra)
    try:
        guest = wait_for_guest_image(cloud, timeout=300)
        print(f"first start took {first_ready:.2f} s; guest image: {guest}", flush=True)
        password = cloud.admin_password
        conn = http.client.HTTPConnection("127.0.0.1", port)
        status, resp, _ = post_json(conn, "/identity/v3/auth/tokens", password_auth(password))
        assert status == 201, status
        admin_token = resp.headers["X-Subject-Token"]
        conn.close()
        auth_headers = {"X-Auth-Token": admin_token, "X-Subject-Token": admin_token}

        def validate(c: http.client.HTTPConnection) -> int:
            c.request("GET", "/identity/v3/auth/tokens", headers=auth_headers)
            r = c.getresponse()
            r.read()
            return r.status

        def issue_token(c: http.client.HTTPConnection) -> int:
            return post_json(c, "/identity/v3/auth/tokens", token_auth(admin_token))[0]

        def issue_password(c: http.client.HTTPConnection) -> int:
            return post_json(c, "/identity/v3/auth/tokens", password_auth(password))[0]

        # Warm-up: imports, caches, connection pools, the first argon2 allocations.
        run_load("warm-up", port, validate, 2, 1.0)
        run_load("warm-up", port, issue_token, 2, 0.5)
        run_load("warm-up", port, issue_password, 2, 0.5)
        time.sleep(1.0)
        warm_rss = rss_mb(cloud.process.pid)

        results: list[Result] = []
        for name, fn, min_requests in (("validate", validate, 0), ("issue (token)", issue_token, 0),
                                       ("issue (password)", issue_password, 3)):
            for clients in levels:
                result = run_load(name, port, fn, clients, args.seconds, min_requests=min_requests)
                results.append(result)
                print(f"  {name:<17} {clients:>3} clients: p50 {result.pct(0.5):8.2f} ms  "
                      f"p99 {result.pct(0.99):8.2f} ms  {result.rps:8.1f} req/s  "
                      f"({len(result.latencies)} ok, {describe_errors(result)})", flush=True)

        time.sleep(2.0)
        pid = cloud.process.pid
        idle_rss = rss_mb(pid)  # idle again, after the load
        others = {kid: (process_name(kid), rss_mb(kid)) for kid in children(pid)}
    finally:
        cloud.stop()

    argon2_ms = argon2_verify_ms()
    ready_times, self_reported = [], []
    for _ in range(args.restarts):
        again, ready = launch(state, port, extra)
        ready_times.append(ready)
        again.stop()
        self_reported.append(self_reported_ready(again))
    if not args.state_dir:
        remove_state(state)

    def find(name: str, clients: int) -> Result | None:
        return next((r for r in results if r.name == name and r.clients == clients), None)

    print()
    cores = os.cpu_count() or 1
    hash_bound = cores * 1000 / argon2_ms  # logins/s if the hash were all a login cost
    print(f"{'scenario':<18}{'clients':>8}{'p50 ms':>10}{'p99 ms':>10}{'req/s':>10}{'errors':>8}   target")
    for r in results:
        target = ""
        if r.name == "validate" and r.clients == 1:
            target = f"p50 < {TARGETS['validate_p50_ms']:.0f} ms: {verdict(r.pct(0.5) < TARGETS['validate_p50_ms'])}"
        elif r.name == "validate" and r.clients == 16:
            target = f"> {TARGETS['validate_rps_16']:.0f}/s: {verdict(r.rps > TARGETS['validate_rps_16'])}"
        elif r.name == "issue (token)" and r.clients == 1:
            target = (f"p50 < {TARGETS['token_issue_p50_ms']:.0f} ms: "
                      f"{verdict(r.pct(0.5) < TARGETS['token_issue_p50_ms'])}")
        elif r.name == "issue (password)" and r.clients == 1:
            bound = argon2_ms + TARGETS["password_overhead_ms"]
            target = f"p50 < argon2 {argon2_ms:.1f} + 5 = {bound:.1f} ms: {verdict(r.pct(0.5) < bound)}"
        elif r.name == "issue (password)":
            # Bound by the hash alone: cores / hash time (80% of it, the clients share the cores).
            target = f"~ {cores} cores / {argon2_ms:.0f} ms = {hash_bound:.1f}/s: {verdict(r.rps > 0.8 * hash_bound)}"
        if r.errors:
            target += f"  [{describe_errors(r)}]"
        print(f"{r.name:<18}{r.clients:>8}{r.pct(0.5):>10.2f}{r.pct(0.99):>10.2f}{r.rps:>10.1f}{r.errors:>8}   {target}")
    print()
    print(f"argon2 verify (controller defaults, in this process): {argon2_ms:.1f} ms")
    print(f"controller idle RSS after warm-up: {warm_rss:.1f} MB   "
          f"target < {TARGETS['idle_rss_mb']:.0f} MB: {verdict(warm_rss < TARGETS['idle_rss_mb'])}")
    print(f"controller idle RSS after the load: {idle_rss:.1f} MB   "
          f"target < {TARGETS['idle_rss_mb']:.0f} MB: {verdict(idle_rss < TARGETS['idle_rss_mb'])}")
    for kid, (name, kid_rss) in others.items():
        print(f"  child {kid} ({name}): {kid_rss:.1f} MB")
    best, median = min(ready_times), statistics.median(ready_times)
    print(f"first start (fresh state, bootstrap): {first_ready:.2f} s")
    print(f"ready on existing state: median {median:.2f} s, best {best:.2f} s over {len(ready_times)}   "
          f"target < {TARGETS['ready_s']:.0f} s: {verdict(median < TARGETS['ready_s'])}")
    polled = ", ".join(f"{x:.2f}" for x in ready_times)
    logged = ", ".join(f"{x:.2f}" if x is not None else "?" for x in self_reported)
    print(f"  each restart: {polled} s; the controller's own 'ready in' (after interpreter start-up): {logged} s")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")

    if args.json:
        figures = {
            "scenarios": [{"name": r.name, "clients": r.clients, "p50_ms": r.pct(0.5), "p99_ms": r.pct(0.99),
                           "rps": r.rps, "ok": len(r.latencies), "errors": r.errors,
                           "error_kinds": r.error_kinds} for r in results],
            "argon2_verify_ms": argon2_ms,
            "warm_rss_mb": warm_rss,
            "idle_rss_mb": idle_rss,
            "first_ready_s": first_ready,
            "ready_s": ready_times,
            "ready_self_reported_s": self_reported,
        }
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(main())
