"""Helpers for the dataplane tests: a world of namespaces, stand-in guests, desired state.

A stand-in guest is a namespace whose eth0 is one end of a veth; the other
end sits in the host namespace under the port's tap name, so the dataplane
plugs it like the tap QEMU would use (same bridge, same rules). udhcpc comes
from busybox in the guest build's cache.
"""

from __future__ import annotations

import glob
import ipaddress
import secrets
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from gureum import testing
from gureum.agent.dataplane import LinuxDataplane, names, netns
from gureum.agent.hypervisor.instance_metadata import InstanceMetadata
from gureum.agent.protocol import (
    DesiredFixedIp,
    DesiredNetwork,
    DesiredPort,
    DesiredRouter,
    DesiredRouterLeg,
    DesiredRule,
    DesiredSecurityGroup,
    DesiredSubnet,
)
from gureum.guest import build_guest_image, default_cache_dir

TCP_TOOL = str(Path(__file__).with_name("dp_tcp.py"))
PYTHON = sys.executable


def busybox() -> str:
    pattern = str(default_cache_dir() / "unpacked" / "busybox-static_*" / "bin" / "busybox")
    found = glob.glob(pattern)
    if not found:
        build_guest_image(default_cache_dir())  # downloads and unpacks the guest's packages once
        found = glob.glob(pattern)
    assert found, f"no busybox at {pattern}"
    return found[0]


def new_id() -> str:
    return str(uuid.uuid4())


def random_mac() -> str:
    return "fa:16:3e:" + ":".join(f"{secrets.randbits(8):02x}" for _ in range(3))


# -- desired state builders ---------------------------------------------------------------


def subnet(cidr: str, gateway: str | None = "auto", **extra) -> DesiredSubnet:
    network = ipaddress.ip_network(cidr)
    gateway_ip = str(network.network_address + 1) if gateway == "auto" else gateway
    return DesiredSubnet(id=new_id(), cidr=cidr, gateway_ip=gateway_ip, **extra)


def network(cidr: str = "10.0.0.0/24", vni: int = 100, dhcp_ip: str | None = "auto", mtu: int = 1450,
            network_type: str = "vxlan", physical_network: str = "", peers: list[str] | None = None,
            gateway: str | None = "auto", **subnet_extra) -> DesiredNetwork:
    the_subnet = subnet(cidr, gateway, **subnet_extra)
    dhcp: dict = {}
    if dhcp_ip is not None:
        address = str(ipaddress.ip_network(cidr).network_address + 2) if dhcp_ip == "auto" else dhcp_ip
        dhcp = {"dhcp_port_id": new_id(), "dhcp_mac": random_mac(),
                "dhcp_fixed_ips": [DesiredFixedIp(subnet_id=the_subnet.id, ip_address=address)]}
    return DesiredNetwork(id=new_id(), network_type=network_type, physical_network=physical_network,
                          segmentation_id=vni if network_type != "flat" else None, mtu=mtu, subnets=[the_subnet],
                          vxlan_peers=peers or [], **dhcp)


def port(on: DesiredNetwork, ip: str, groups: list[str] | None = None, hostname: str = "", **extra) -> DesiredPort:
    return DesiredPort(id=new_id(), mac=random_mac(), network_id=on.id, device_id=new_id(),
                       fixed_ips=[DesiredFixedIp(subnet_id=on.subnets[0].id, ip_address=ip)],
                       hostname=hostname or f"guest-{ip.replace('.', '-')}",
                       security_group_ids=groups if groups is not None else [], **extra)


def group(*rules: DesiredRule, group_id: str | None = None, members: list[str] | None = None) -> DesiredSecurityGroup:
    """A group with Neutron's default egress rules plus `rules`."""
    return DesiredSecurityGroup(id=group_id or new_id(),
                                rules=[DesiredRule("egress"), DesiredRule("egress", "IPv6"), *rules],
                                member_ips=members or [])


def default_group(members: list[str]) -> DesiredSecurityGroup:
    """Neutron's default group: all egress, ingress from its own members."""
    group_id = new_id()
    return DesiredSecurityGroup(id=group_id, member_ips=members, rules=[
        DesiredRule("egress"), DesiredRule("egress", "IPv6"), DesiredRule("ingress", remote_group_id=group_id),
        DesiredRule("ingress", "IPv6", remote_group_id=group_id)])


def leg(on: DesiredNetwork, address: str) -> DesiredRouterLeg:
    prefix = ipaddress.ip_network(on.subnets[0].cidr).prefixlen
    return DesiredRouterLeg(port_id=new_id(), mac=random_mac(), network_id=on.id, addresses=[f"{address}/{prefix}"])


def router(gateway: DesiredRouterLeg | None, interfaces: list[DesiredRouterLeg], **extra) -> DesiredRouter:
    return DesiredRouter(id=new_id(), gateway=gateway, interfaces=interfaces, **extra)


# -- namespaces standing in for guests and the outside world ------------------------------------


@dataclass
class Namespace:
    name: str
    processes: list[subprocess.Popen] = field(default_factory=list)

    def run(self, *argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], capture_output=True, text=True,
                              check=check, timeout=timeout)

    def ip(self, *argv: str) -> None:
        subprocess.run(["ip", "-n", self.name, *argv], check=True, capture_output=True)

    def start(self, *argv: str) -> subprocess.Popen:
        started = subprocess.Popen(["ip", "netns", "exec", self.name, *argv], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        self.processes.append(started)
        return started

    def serve_tcp(self, port: int, text: str = "hello") -> None:
        self.start(PYTHON, TCP_TOOL, "serve", str(port), text)
        self.wait_listening(port)

    def udp_listen(self, port: int, seconds: float) -> subprocess.Popen:
        """A listener that exits 0 (a datagram came) or 1 (none within `seconds`)."""
        listener = self.start(PYTHON, TCP_TOOL, "udp-listen", str(port), str(seconds))
        self.wait_listening(port, table="udp")
        return listener

    def wait_listening(self, port: int, timeout: float = 10, table: str = "tcp") -> None:
        deadline = time.monotonic() + timeout
        # A socket in state 0A (listen) for TCP, or bound (07) for UDP, on that local port.
        state = "0A" if table == "tcp" else "07"
        while not any(fields[1].endswith(f":{port:04X}") and fields[3] == state
                      for fields in (line.split() for line in self.run("cat", f"/proc/net/{table}").stdout
                                     .splitlines()[1:])):
            assert time.monotonic() < deadline, f"nothing listens on {port} in {self.name}"
            time.sleep(0.05)

    def connect(self, host: str, port: int, timeout: float = 2.0, source: str | None = None) -> str | None:
        """The server's answer, or None when no connection could be made."""
        argv = [PYTHON, TCP_TOOL, "connect", host, str(port), str(timeout), *([source] if source else [])]
        result = self.run(*argv, check=False, timeout=timeout + 30)
        return result.stdout.strip() if result.returncode == 0 else None

    def stop_processes(self) -> None:
        for started in self.processes:
            started.kill()
            started.wait()
        self.processes.clear()


@dataclass
class Guest(Namespace):
    port: DesiredPort | None = None
    workdir: Path | None = None

    @property
    def ip_address(self) -> str:
        assert self.port is not None
        return self.port.fixed_ips[0].ip_address

    def dhcp(self, timeout: int = 8) -> dict[str, str]:
        """Ask for a lease with busybox udhcpc as the test guest does; the lease's variables."""
        assert self.workdir is not None
        lease = self.workdir / f"{self.name}.lease"
        script = self.workdir / f"{self.name}.udhcpc"
        script.write_text(f'#!/bin/sh\n[ "$1" = bound ] && env > {lease}\nexit 0\n')
        script.chmod(0o755)
        lease.unlink(missing_ok=True)
        self.run(busybox(), "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", str(timeout), "-T", "1",
                 "-O", "staticroutes", "-O", "mtu", "-s", str(script), timeout=timeout + 20)
        variables = dict(line.split("=", 1) for line in lease.read_text().splitlines() if "=" in line)
        return variables

    def configure(self, lease: dict[str, str]) -> None:
        """What the guest's udhcpc script does with a lease (address, MTU, RFC 3442 routes)."""
        prefix = ipaddress.ip_network(f"0.0.0.0/{lease['mask']}").prefixlen
        self.ip("addr", "flush", "dev", "eth0")
        self.ip("addr", "add", f"{lease['ip']}/{prefix}", "dev", "eth0")
        if "mtu" in lease:
            self.ip("link", "set", "eth0", "mtu", lease["mtu"])
        words = lease.get("staticroutes", "").split()
        for destination, nexthop in zip(words[::2], words[1::2]):
            if nexthop == "0.0.0.0":
                self.ip("route", "replace", destination, "dev", "eth0")
            else:
                self.ip("route", "replace", destination, "via", nexthop, "dev", "eth0")

    def configure_static(self, prefix: int = 24, gateway: str | None = None) -> None:
        self.ip("addr", "add", f"{self.ip_address}/{prefix}", "dev", "eth0")
        if gateway:
            self.ip("route", "replace", "default", "via", gateway)

    def http_get(self, url: str) -> tuple[int, str]:
        code = ("import sys, urllib.request, urllib.error\n"
                "try:\n r = urllib.request.urlopen(sys.argv[1], timeout=5); print(r.status); print(r.read().decode())\n"
                "except urllib.error.HTTPError as e:\n print(e.code); print(e.read().decode())\n")
        result = self.run(PYTHON, "-c", code, url, timeout=30)
        status, _, body = result.stdout.partition("\n")
        return int(status), body.rstrip("\n")


class World:
    """Everything one test makes: namespaces named with one prefix, dataplanes, metadata."""

    def __init__(self, workdir: Path) -> None:
        self.prefix = f"gd{secrets.token_hex(3)}-"
        self.workdir = workdir
        self.dataplanes: list[LinuxDataplane] = []
        self.namespaces: list[Namespace] = []
        self.instances: dict[tuple[str, str], InstanceMetadata] = {}

    def host(self, name: str = "host") -> str:
        host = f"{self.prefix}{name}"
        netns.ensure(host)
        return host

    def dataplane(self, host: str | None = None, local_ip: str = "192.168.77.1", prefix: str = "",
                  bridge_mappings: dict[str, str] | None = None,
                  dns_upstreams: list[tuple[str, int]] | None = None) -> LinuxDataplane:
        host = host or self.host()
        # DNS relays forward to the test's own loopback servers only, never the host's resolvers.
        dataplane = LinuxDataplane(state_dir=self.workdir / f"dp-{len(self.dataplanes)}", host_netns=host,
                              bridge_mappings=bridge_mappings if bridge_mappings is not None else {"external": "br-ex"},
                              local_ip=local_ip, name_prefix=self.prefix + prefix, metadata_lookup=self.lookup,
                              dns_upstreams=dns_upstreams or [])
        self.dataplanes.append(dataplane)
        return dataplane

    def lookup(self, network_id: str, address: str) -> InstanceMetadata | None:
        return self.instances.get((network_id, address))

    def namespace(self, name: str) -> Namespace:
        namespace = Namespace(f"{self.prefix}{name}")
        netns.ensure(namespace.name)
        Namespace(namespace.name).ip("link", "set", "lo", "up")
        self.namespaces.append(namespace)
        return namespace

    def guest(self, port: DesiredPort, host: str | None = None, name: str | None = None) -> Guest:
        """A namespace whose eth0 is plugged as `port` (its host end named as the port's tap)."""
        host = host or self.host()
        guest = Guest(name=f"{self.prefix}{name or 'g-' + port.id[:6]}", port=port, workdir=self.workdir)
        netns.ensure(guest.name)
        subprocess.run(["ip", "-n", host, "link", "add", names.tap_name(port.id), "type", "veth", "peer", "name",
                        "eth0", "netns", guest.name], check=True)
        guest.ip("link", "set", "eth0", "address", port.mac)
        guest.ip("link", "set", "eth0", "up")
        guest.ip("link", "set", "lo", "up")
        self.namespaces.append(guest)
        return guest

    def bridge(self, host: str, name: str = "br-ex") -> None:
        """A bridge of the operator's, named in bridge_mappings."""
        subprocess.run(["ip", "-n", host, "link", "add", name, "type", "bridge"], check=True)
        subprocess.run(["ip", "-n", host, "link", "set", name, "up"], check=True)

    def outside(self, host: str, address: str, bridge: str = "br-ex", name: str = "outside") -> Namespace:
        """An upstream router on the external bridge: `address` (with prefix) on its eth0."""
        outside = self.namespace(name)
        host_end = f"ext-{secrets.token_hex(3)}"
        subprocess.run(["ip", "-n", host, "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns",
                        outside.name], check=True)
        subprocess.run(["ip", "-n", host, "link", "set", host_end, "master", bridge, "up"], check=True)
        outside.ip("addr", "add", address, "dev", "eth0")
        outside.ip("link", "set", "eth0", "up")
        return outside

    def underlay(self, first: str, second: str, first_ip: str, second_ip: str) -> None:
        """A veth between two host namespaces: the network VXLAN runs over."""
        subprocess.run(["ip", "-n", first, "link", "add", "underlay", "type", "veth", "peer", "name", "underlay",
                        "netns", second], check=True)
        for host, address in ((first, first_ip), (second, second_ip)):
            subprocess.run(["ip", "-n", host, "addr", "add", f"{address}/24", "dev", "underlay"], check=True)
            subprocess.run(["ip", "-n", host, "link", "set", "underlay", "mtu", "1500", "up"], check=True)

    def cleanup(self) -> None:
        for dataplane in self.dataplanes:
            try:
                dataplane.remove_all()
            finally:
                dataplane.close()
        for namespace in self.namespaces:
            namespace.stop_processes()
        for name in netns.names_with_prefix(self.prefix):
            netns.remove(name)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.1, what: str = "condition"):
    """gureum.testing.wait_for with the short defaults a dataplane change needs."""
    return testing.wait_for(predicate, timeout, interval, what)
