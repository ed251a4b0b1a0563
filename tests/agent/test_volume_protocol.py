"""The block storage part of the agent protocol: round trips, and old peers still parse."""

from __future__ import annotations

from gureum.agent.protocol import (
    DesiredAttachment,
    DesiredExport,
    DesiredHostState,
    DesiredInstance,
    DesiredVolume,
    DesiredVolumeUpload,
    HostCapacity,
    HostReport,
    ObservedBackend,
    ObservedInstance,
    ObservedVolume,
    VolumeSource,
    VolumeTransport,
)


def _instance(**extra: object) -> DesiredInstance:
    return DesiredInstance(uuid="i1", name="vm", hostname="vm", project_id="p", vcpus=1, memory_mb=256,
                           root_gb=1, image_id="img", power="running", **extra)  # type: ignore[arg-type]


def test_desired_round_trip() -> None:
    desired = DesiredHostState(
        hostname="h1", revision=3,
        instances=[_instance(volumes=[
            DesiredAttachment("a1", "v1", serial="v1", boot_index=0),
            DesiredAttachment("a2", "v2", serial="v2", readonly=True, transport=VolumeTransport(
                kind="nbd", host="10.0.0.2", port=10809, export="a2", psk_identity="h1", psk_key="ab" * 16)),
        ])],
        volumes=[DesiredVolume("v1", size_gb=2, project_id="p", source=VolumeSource(kind="image", id="img"),
                               snapshots=["s1"], revert_count=1, revert_snapshot_id="s1",
                               uploads=[DesiredVolumeUpload("img2", "qcow2")])],
        exports=[DesiredExport("a2", "v2", client_host="h2", psk_identity="h2", psk_key="cd" * 16)],
    )
    assert DesiredHostState.from_dict(desired.to_dict()) == desired


def test_old_controller_and_new_keys() -> None:
    old = {"hostname": "h1", "revision": 1, "instances": [
        {"uuid": "i1", "name": "vm", "hostname": "vm", "project_id": "p", "vcpus": 1, "memory_mb": 256,
         "root_gb": 1, "image_id": "img", "power": "running"}]}
    parsed = DesiredHostState.from_dict(old)
    assert parsed.volumes == [] and parsed.exports == [] and parsed.instances[0].volumes == []
    newer = dict(old, volumes=[{"id": "v1", "size_gb": 1, "a_future_key": 1,
                                "source": {"kind": "", "future": True}}])
    assert DesiredHostState.from_dict(newer).volumes == [DesiredVolume("v1", size_gb=1)]


def test_report_round_trip() -> None:
    report = HostReport(
        hostname="h1", capacity=HostCapacity(vcpus=2, memory_mb=1024, disk_gb=10),
        instances=[ObservedInstance("i1", 1, volumes_attached=["a1"], detach_pending=["a2"],
                                    volume_errors={"a3": "no such volume"})],
        volumes=[ObservedVolume("v1", size_gb=2, allocated_bytes=196608, snapshots=["s1"],
                                uploads_failed={"img2": "quota"})],
        volume_backends=[ObservedBackend("file", total_bytes=10, free_bytes=5)],
        exports_up=["a2"], nbd_address="10.0.0.1:10809", export_errors={"a4": "volume v4 is not on this host"},
    )
    assert HostReport.from_dict(report.to_dict()) == report
    assert HostReport.from_dict({"hostname": "h1", "capacity": {"vcpus": 1, "memory_mb": 1, "disk_gb": 1},
                                 "instances": []}).volumes == []
