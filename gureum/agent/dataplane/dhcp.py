"""DHCP for a network's guests on this host: dnsmasq in the network's DHCP namespace.

dnsmasq (Debian's dnsmasq-base) runs in {prefix}qdhcp-<network>, on the
DHCP port's leg, with static host entries for this host's ports only: each
host answers its own guests, so several hosts can serve one network without
stepping on each other. Options: router (none without a gateway), DNS
servers, MTU (26), classless static routes (121, and 249 for old Windows):
the metadata address via the DHCP port itself, the subnet's host routes and,
since RFC 3442 clients ignore option 3 when 121 is present, the default
route via the gateway too.

Host entries and options live in files dnsmasq re-reads on SIGHUP, so a new
guest costs a signal, not a restart. Anything on the command line (the
subnets, the interface) changing restarts it. dnsmasq is tracked by its
pidfile: a dead one (or one left in a namespace that was replaced) is
started again on the next pass.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import signal
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from gureum.agent.dataplane import netns
from gureum.agent.dataplane.errors import DataplaneError
from gureum.agent.protocol import DesiredNetwork, DesiredPort, DesiredSubnet

DNSMASQ = "dnsmasq"
LEASE_SECONDS = 86400  # Neutron's dhcp_lease_duration
_START_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class DhcpPaths:
    directory: Path

    @property
    def hosts(self) -> Path:
        return self.directory / "host"

    @property
    def options(self) -> Path:
        return self.directory / "opts"

    @property
    def pidfile(self) -> Path:
        return self.directory / "pid"

    @property
    def log(self) -> Path:
        return self.directory / "log"

    @property
    def argv_fingerprint(self) -> Path:
        return self.directory / "argv"


def dhcp_subnets(network: DesiredNetwork) -> list[DesiredSubnet]:
    """The IPv4 subnets dnsmasq serves (DHCPv6 and SLAAC are not built yet)."""
    return [s for s in network.subnets if s.enable_dhcp and s.ip_version == 4]


def server_addresses(network: DesiredNetwork) -> dict[str, str]:
    """Subnet id -> the DHCP port's address in it."""
    return {fixed.subnet_id: fixed.ip_address for fixed in network.dhcp_fixed_ips}


def leg_addresses(network: DesiredNetwork) -> set[str]:
    """The DHCP leg's addresses with their subnets' prefixes."""
    prefixes = {s.id: ipaddress.ip_network(s.cidr, strict=False).prefixlen for s in network.subnets}
    return {f"{fixed.ip_address}/{prefixes[fixed.subnet_id]}"
            for fixed in network.dhcp_fixed_ips if fixed.subnet_id in prefixes}


def render_hosts(network: DesiredNetwork, ports: list[DesiredPort]) -> str:
    """One line per port of this host: MAC, hostname, address (dnsmasq dhcp-hostsfile)."""
    served = {s.id for s in dhcp_subnets(network)}
    lines = []
    for port in sorted(ports, key=lambda p: p.id):
        addresses = [f.ip_address for f in port.fixed_ips if f.subnet_id in served]
        if addresses:
            # dnsmasq takes one IPv4 address per host entry: the first served one.
            lines.append(f"{port.mac.lower()},{_hostname(port.hostname, addresses[0])},{addresses[0]}")
    return "".join(line + "\n" for line in lines)


def _hostname(wanted: str, address: str) -> str:
    label = re.sub(r"[^A-Za-z0-9-]", "-", wanted.split(".")[0]).strip("-")[:63]
    return label or "host-" + address.replace(".", "-")


def render_options(network: DesiredNetwork, dns_relay: bool = False) -> str:
    """dnsmasq's options file; `dns_relay`: the DHCP port answers DNS (dns.py), so a subnet
    that names no DNS servers hands out its own address, as Neutron's DHCP agent does."""
    servers = server_addresses(network)
    lines = []
    for index, subnet in enumerate(dhcp_subnets(network)):
        tag = f"tag:subnet{index}"
        if subnet.gateway_ip:
            lines.append(f"{tag},option:router,{subnet.gateway_ip}")
        else:
            lines.append(f"{tag},option:router")  # empty: no router at all, not dnsmasq's own address
        if subnet.dns_nameservers:
            lines.append(f"{tag},option:dns-server,{','.join(subnet.dns_nameservers)}")
        elif dns_relay and servers.get(subnet.id):
            lines.append(f"{tag},option:dns-server,{servers[subnet.id]}")
        lines.append(f"{tag},option:mtu,{network.mtu}")
        routes = _classless_routes(network, subnet, servers.get(subnet.id))
        if routes:
            lines.append(f"{tag},option:classless-static-route,{routes}")
            lines.append(f"{tag},249,{routes}")
    return "".join(line + "\n" for line in lines)


def _classless_routes(network: DesiredNetwork, subnet: DesiredSubnet, server: str | None) -> str:
    routes: list[tuple[str, str]] = []
    if server:
        routes.append(("169.254.169.254/32", server))
    for other in network.subnets:  # the network's other subnets are on the same link
        if other.id != subnet.id and other.ip_version == 4:
            routes.append((str(ipaddress.ip_network(other.cidr, strict=False)), "0.0.0.0"))
    for route in subnet.host_routes:
        destination = str(ipaddress.ip_network(route["destination"], strict=False))
        if destination != "0.0.0.0/0":
            routes.append((destination, route["nexthop"]))
    default = next((r["nexthop"] for r in subnet.host_routes
                    if str(ipaddress.ip_network(r["destination"], strict=False)) == "0.0.0.0/0"),
                   subnet.gateway_ip)
    if default:
        routes.append(("0.0.0.0/0", default))
    return ",".join(f"{destination},{nexthop}" for destination, nexthop in routes)


def dnsmasq_argv(network: DesiredNetwork, interface: str, paths: DhcpPaths, user: str) -> list[str]:
    argv = [DNSMASQ, "--conf-file=/dev/null", "--no-hosts", "--no-resolv", "--port=0", "--no-ping",
            "--leasefile-ro", "--dhcp-authoritative", "--bind-interfaces", f"--interface={interface}",
            "--except-interface=lo", f"--pid-file={paths.pidfile}", f"--dhcp-hostsfile={paths.hosts}",
            f"--dhcp-optsfile={paths.options}", f"--log-facility={paths.log}", "--log-dhcp",
            f"--user={user}"]
    for index, subnet in enumerate(dhcp_subnets(network)):
        cidr = ipaddress.ip_network(subnet.cidr, strict=False)
        # static: answer only the hosts in the hosts file, never hand out a pool address.
        argv.append(f"--dhcp-range=set:subnet{index},{cidr.network_address},static,{cidr.netmask},"
                    f"{LEASE_SECONDS}s")
    return argv


def ensure_dnsmasq(namespace: str, network: DesiredNetwork, interface: str, ports: list[DesiredPort],
                   paths: DhcpPaths, dns_relay: bool = False) -> None:
    """Files current, dnsmasq running in `namespace` with exactly this command line."""
    paths.directory.mkdir(parents=True, exist_ok=True)
    # dnsmasq drops to nobody and re-reads its files as nobody: let it when it can reach them.
    user = "nobody" if _reachable_by_everyone(paths.directory) else "root"
    if user == "nobody":
        paths.directory.chmod(0o755)
    argv = dnsmasq_argv(network, interface, paths, user)
    fingerprint = hashlib.sha256("\0".join(argv).encode()).hexdigest()
    files_changed = _write_if_changed(paths.hosts, render_hosts(network, ports))
    files_changed |= _write_if_changed(paths.options, render_options(network, dns_relay))
    pid = running_pid(paths, namespace)
    if pid is not None and _read(paths.argv_fingerprint) != fingerprint:
        stop(paths)
        pid = None
    if pid is None:
        _start(namespace, argv, paths)
        paths.argv_fingerprint.write_text(fingerprint)
    elif files_changed:
        os.kill(pid, signal.SIGHUP)


def running_pid(paths: DhcpPaths, namespace: str | None = None) -> int | None:
    """dnsmasq's pid when it runs with our pidfile (and inside `namespace` as it is now)."""
    try:
        pid = int(paths.pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    if f"--pid-file={paths.pidfile}".encode() not in cmdline:
        return None  # the pid was reused by something else
    if namespace is not None and netns.process_netns_inode(pid) != netns.inode(namespace):
        # Its namespace was deleted and made again: this dnsmasq serves a dead leg.
        _kill(pid)
        return None
    return pid


def stop(paths: DhcpPaths) -> None:
    pid = running_pid(paths)
    if pid is not None:
        _kill(pid)
    paths.pidfile.unlink(missing_ok=True)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _start(namespace: str, argv: list[str], paths: DhcpPaths) -> None:
    paths.pidfile.unlink(missing_ok=True)
    # dnsmasq forks into the background and exits 0 once it is listening.
    result = subprocess.run(["ip", "netns", "exec", namespace, *argv], capture_output=True, text=True,
                            timeout=_START_TIMEOUT_SECONDS, check=False)
    if result.returncode != 0:
        raise DataplaneError(f"dnsmasq did not start in {namespace}: {result.stderr.strip() or result.returncode}; "
                             f"see {paths.log}")
    deadline = time.monotonic() + _START_TIMEOUT_SECONDS
    while running_pid(paths) is None:
        if time.monotonic() > deadline:
            raise DataplaneError(f"dnsmasq in {namespace} wrote no pidfile {paths.pidfile}; see {paths.log}")
        time.sleep(0.02)


def _write_if_changed(path: Path, text: str) -> bool:
    if _read(path) == text:
        return False
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    partial.chmod(0o644)
    os.replace(partial, path)
    return True


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def _reachable_by_everyone(directory: Path) -> bool:
    for parent in directory.resolve().parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            return False
    return True
