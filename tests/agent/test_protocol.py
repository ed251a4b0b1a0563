"""The agent protocol's one reader: every message built from JSON by its type hints."""

from __future__ import annotations

import json

import pytest

from gureum.agent.protocol import (
    DesiredFixedIp,
    DesiredHostState,
    DesiredInstance,
    DesiredNetwork,
    DesiredNetworking,
    DesiredNic,
    DesiredPort,
    DesiredRouter,
    DesiredRouterLeg,
    DesiredRule,
    DesiredSecurityGroup,
    DesiredSnapshot,
    DesiredSubnet,
    HostCapabilities,
    HostCapacity,
    HostReport,
    ObservedInstance,
)


def _desired() -> DesiredHostState:
    leg = DesiredRouterLeg("p-gw", "fa:16:3e:00:00:01", "ext", ["203.0.113.5/24"])
    return DesiredHostState(
        hostname="h1", revision=7,
        instances=[DesiredInstance(uuid="i1", name="vm", hostname="vm", project_id="p", vcpus=1, memory_mb=256,
                                   root_gb=1, image_id="img", power="running",
                                   snapshots=[DesiredSnapshot("s1", "snap")],
                                   nics=[DesiredNic("p1", "fa:16:3e:00:00:02", "n1", mtu=1450, fixed_ips=["10.0.0.5"])],
                                   public_keys={"k": "ssh-ed25519 AAAA"}, user_data=None)],
        networking=DesiredNetworking(
            networks=[DesiredNetwork("n1", "vxlan", segmentation_id=5, subnets=[DesiredSubnet(
                "s1", "10.0.0.0/24", gateway_ip="10.0.0.1", host_routes=[{"destination": "0/0", "nexthop": "x"}])],
                dhcp_fixed_ips=[DesiredFixedIp("s1", "10.0.0.2")])],
            ports=[DesiredPort("p1", "fa:16:3e:00:00:02", "n1", "i1", fixed_ips=[DesiredFixedIp("s1", "10.0.0.5")])],
            security_groups=[DesiredSecurityGroup("g1", rules=[DesiredRule("ingress", protocol="tcp",
                                                                            port_range_min=22, port_range_max=22)])],
            routers=[DesiredRouter("r1", gateway=leg, interfaces=[leg]), DesiredRouter("r2")],
        ),
    )


def test_round_trips_through_json() -> None:
    desired = _desired()
    assert DesiredHostState.from_dict(json.loads(json.dumps(desired.to_dict()))) == desired
    report = HostReport(hostname="h1", capacity=HostCapacity(vcpus=2, memory_mb=1024, disk_gb=10,
                                                             capabilities=HostCapabilities(accel="kvm")),
                        instances=[ObservedInstance("i1", 1, snapshots_failed={"s1": "disk full"},
                                                    activity="fetch image img")],
                        network_errors={"n1": "no bridge"})
    assert HostReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report


def test_newer_and_older_peers() -> None:
    data = _desired().to_dict()
    data["a_new_key"] = {"anything": 1}
    data["instances"][0]["a_new_field"] = [1, 2]
    data["networking"]["routers"][0]["gateway"]["future"] = True
    assert DesiredHostState.from_dict(data) == _desired()
    # An older controller: no networking at all, or null where a default exists.
    old = {"hostname": "h1", "revision": 1, "instances": [], "networking": None}
    assert DesiredHostState.from_dict(old).networking == DesiredNetworking()
    # An older agent: no capabilities in its capacity.
    report = HostReport.from_dict({"hostname": "h1", "capacity": {"vcpus": 1, "memory_mb": 1, "disk_gb": 1},
                                   "instances": [{"uuid": "i1", "power_state": 1}]})
    assert report.capacity.capabilities == HostCapabilities()
    assert report.instances[0].activity is None


@pytest.mark.parametrize("broken", [
    {"capacity": {"vcpus": 1, "memory_mb": 1, "disk_gb": 1}, "instances": []},  # no hostname
    {"hostname": "h1", "capacity": [], "instances": []},
    {"hostname": "h1", "capacity": {"vcpus": "many", "memory_mb": 1, "disk_gb": 1}, "instances": []},
    {"hostname": "h1", "capacity": {"vcpus": 1, "memory_mb": 1, "disk_gb": 1}, "instances": {"i1": {}}},
    {"hostname": "h1", "capacity": {"vcpus": 1, "memory_mb": 1, "disk_gb": 1}, "instances": [],
     "capabilities": None, "ports_up": "p1"},
    {"hostname": "h1", "capacity": {"vcpus": 1, "memory_mb": 1, "disk_gb": 1, "vlan_supported": "yes"},
     "instances": []},
    {"hostname": "h1", "capacity": {"vcpus": 1, "memory_mb": 1, "disk_gb": 1}, "instances": [None]},
])
def test_a_malformed_report_raises_what_the_api_turns_into_400(broken: dict) -> None:
    with pytest.raises((TypeError, ValueError)):
        HostReport.from_dict(broken)


def test_capabilities_follow_what_the_driver_implements(tmp_path) -> None:  # noqa: ANN001
    from gureum.agent.hypervisor import Accel, NicSpec, QemuHypervisor

    qemu = QemuHypervisor(tmp_path / "instances", accel=Accel.TCG)
    assert qemu.capabilities == HostCapabilities(accel="tcg")

    class WithInterfaces(QemuHypervisor):
        def attach_port(self, instance_id: str, nic: NicSpec) -> None:
            pass

    assert WithInterfaces(tmp_path / "other", accel=Accel.TCG).capabilities.supports_attach_interface
