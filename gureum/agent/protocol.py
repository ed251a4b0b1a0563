"""What the controller and an agent say to each other, over HTTP, under /agent/v1.

The controller never reaches into a node. It keeps, per host, the desired state
of every instance placed there and a revision that goes up when any of it
changes. The agent:

  1. POST /agent/v1/hosts/{hostname}/report  with its capacity and what it
     observes (registers the host on first contact; a heartbeat every time);
  2. GET  /agent/v1/hosts/{hostname}/desired?after=REV&wait=S  answers at once
     when the revision is newer than REV, else after at most S seconds;
  3. makes the node match, idempotently, and reports again.

One-shot actions (reboot, rebuild, resize, snapshot) are counters in the desired
state; the agent keeps the counters it last applied on the node and reports
them, so an action runs exactly once even across restarts of either side.
Every request carries `X-Gureum-Agent-Token`, a secret of the controller.

Block storage rides on the same message (see ../shared/design/block-storage.md):

  - `DesiredHostState.volumes`: every volume this host must hold (backend `file`:
    `<state>/volumes/<id>.qcow2`; `rbd`: `volumes/volume-<id>` in Ceph). A volume
    absent from the list is deleted by the host that has it, with its snapshots;
    a larger `size_gb` is an extend (never a shrink); a volume that is present is
    never re-made from its `source`. `snapshots` are the ids that must exist on it
    (one missing is taken, one extra deleted); `revert_count` going up reverts it to
    `revert_snapshot_id` once; `uploads` and `backups` run once each, reported by
    id as done or failed.
  - `DesiredHostState.exports`: this host serves a volume it holds to a guest on
    `client_host` over NBD with TLS-PSK (one qemu-storage-daemon per host, the export
    named after the attachment id); the report lists the attachment ids whose export
    is up in `exports_up` and the daemon's address in `nbd_address`.
  - `DesiredInstance.volumes`: the attachments the guest must have, with how its
    QEMU reaches each volume (`transport`: the local file, an NBD export of another
    host, or RBD). The guest sees each as a virtio disk with serial = the volume id
    (`/dev/disk/by-id/virtio-<first 20 chars>`); a running guest gets it hot-plugged
    over QMP, a stopped one at its next start. `boot_index=0` boots from it (boot from
    volume: no root disk is made when `image_id` is empty).
  - `ObservedInstance.volumes_attached`: the attachment ids QEMU shows;
    `detach_pending`: those the guest has not released yet (retried every pass,
    settled by stop/start); `volume_errors`: per attachment id, in plain words.
  - `HostReport.volumes`: what the host holds (present, size, allocation, snapshots,
    counters done), and `volume_backends` the free space per backend, so the
    controller can refuse a volume bigger than it.
"""

from __future__ import annotations

import functools
import types
import typing
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from typing import Any, TypeVar, Union

AGENT_TOKEN_HEADER = "X-Gureum-Agent-Token"
AGENT_TOKEN_FILE = "agent-token"

T = TypeVar("T")


def _from_dict(cls: type[T], data: Any) -> T:
    """Build the dataclass `cls` from decoded JSON, following its type hints.

    Nested dataclasses, lists and dicts of them and optional fields are built the
    same way; keys a newer peer added are ignored, and a key an older peer did not
    send (or sent as null where the field is not optional) takes the field's default.
    A value of the wrong shape raises TypeError or ValueError (the API answers 400).
    """
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    hints = _hints(cls)
    values = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            continue
        value, hint = data[f.name], hints[f.name]
        if value is None and not _optional(hint) and (f.default is not MISSING or f.default_factory is not MISSING):
            continue
        values[f.name] = _convert(hint, value, f"{cls.__name__}.{f.name}")
    return cls(**values)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _optional(hint: Any) -> bool:
    return typing.get_origin(hint) in (Union, types.UnionType) and type(None) in typing.get_args(hint)


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        others = [a for a in args if a is not type(None)]
        return _convert(others[0], value, where) if len(others) == 1 else value
    if value is None:
        raise TypeError(f"{where} must not be null")
    if origin is list:
        if not isinstance(value, list):
            raise TypeError(f"{where} must be a list")
        return [_convert(args[0], item, where) for item in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError(f"{where} must be an object")
        return {_convert(args[0], k, where): _convert(args[1], v, where) for k, v in value.items()}
    if isinstance(hint, type) and is_dataclass(hint):
        return _from_dict(hint, value)
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{where} must be true or false")
        return value
    if hint in (int, float, str):
        if isinstance(value, (dict, list)):
            raise TypeError(f"{where} must be a {hint.__name__}")
        return value if type(value) is hint else hint(value)
    return value


class Wire:
    """A message part that travels as JSON: `to_dict` and `from_dict` for every dataclass here."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[T], data: Any) -> T:
        return _from_dict(cls, data)


@dataclass(frozen=True)
class DesiredNic(Wire):
    port_id: str
    mac: str
    network_id: str = ""
    mtu: int | None = None
    fixed_ips: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DesiredSnapshot(Wire):
    image_id: str
    name: str


@dataclass(frozen=True)
class DesiredInstance(Wire):
    uuid: str
    name: str
    hostname: str
    project_id: str
    vcpus: int
    memory_mb: int
    root_gb: int
    image_id: str
    # running | stopped | paused | suspended
    power: str
    reboot_count: int = 0
    reboot_hard: bool = False
    rebuild_count: int = 0
    resize_count: int = 0
    snapshots: list[DesiredSnapshot] = field(default_factory=list)
    config_drive: bool = False
    # What the guest reads about itself (config drive and metadata service).
    public_keys: dict[str, str] = field(default_factory=dict)
    user_data: str | None = None  # base64, as the API took it
    metadata: dict[str, str] = field(default_factory=dict)
    availability_zone: str = "nova"
    flavor_name: str = ""
    launch_index: int = 0
    nics: list[DesiredNic] = field(default_factory=list)
    # Nova's network_data.json for this guest, built by the network service; None: not sent
    # (an older controller), so the guest is told nothing and falls back to DHCP.
    network_data: dict[str, Any] | None = None
    # Volumes attached to the guest (block storage); see DesiredAttachment.
    volumes: list[DesiredAttachment] = field(default_factory=list)


# -- block storage: volumes a host holds, exports it serves, attachments of its guests ------


@dataclass(frozen=True)
class VolumeTransport(Wire):
    """How a guest's QEMU reaches a volume. Only the fields of its `kind` are used.

    file: the volume is on this host (`<state>/volumes/<volume_id>.qcow2`); nothing else.
    nbd:  another host exports it: `host:port`, export name (the attachment id), and the
          TLS-PSK identity and key (hex) of *this* host, which the exporter also knows.
    rbd:  Ceph: `pool`/`image`, cephx `user` and its `secret` (base64, as `ceph auth
          get-key` prints it), the monitors (`mon_host`, "ip:port,ip:port") or a
          `conf` path on this host when the node has its own ceph.conf.
    """

    kind: str = "file"  # file | nbd | rbd
    host: str = ""
    port: int = 0
    export: str = ""
    psk_identity: str = ""
    psk_key: str = ""
    pool: str = ""
    image: str = ""
    user: str = ""
    secret: str = ""
    mon_host: str = ""
    conf: str = ""


@dataclass(frozen=True)
class DesiredAttachment(Wire):
    attachment_id: str
    volume_id: str
    # The disk's serial as the guest sees it; Nova and Cinder use the volume id.
    serial: str = ""
    # 0: the boot disk (bootindex=0); None: a data disk.
    boot_index: int | None = None
    readonly: bool = False
    transport: VolumeTransport = field(default_factory=VolumeTransport)


@dataclass(frozen=True)
class VolumeSource(Wire):
    """Where a new volume's first bytes come from; used only when the volume is created.

    kind "" : empty (zeros).
    image   : `id` is a Glance image the agent fetches like an instance's (ImageCache);
              its format is checked and never used as a backing file.
    snapshot: `id` is a snapshot of `volume_id`, a volume of the same host and backend.
    volume  : `id` is a volume of the same host and backend (a clone of its present data).
    backup  : `id` is a backup (restore); `location` is where its chunks are.
    """

    kind: str = ""
    id: str = ""
    volume_id: str = ""
    location: str = ""


@dataclass(frozen=True)
class DesiredVolumeUpload(Wire):
    """Volume -> image (os-volume_upload_image): convert and upload once."""

    image_id: str
    disk_format: str = "raw"  # raw | qcow2


@dataclass(frozen=True)
class DesiredBackup(Wire):
    """A backup to take once, in Cinder's chunked layout (not yet implemented by the agent)."""

    id: str
    location: str = ""
    # The backup this one is incremental on (block hashes compared), or None for a full one.
    parent_id: str | None = None
    # Back up this snapshot of the volume instead of its present data.
    snapshot_id: str | None = None


@dataclass(frozen=True)
class DesiredVolume(Wire):
    id: str
    # file | rbd (lvm and iscsi are not possible on these kernels: no device-mapper, no configfs)
    backend: str = "file"
    size_gb: int = 1
    project_id: str = ""
    source: VolumeSource = field(default_factory=VolumeSource)
    # Snapshot ids that must exist on this volume (internal qcow2 snapshots / rbd snaps).
    snapshots: list[str] = field(default_factory=list)
    # Revert to a snapshot (Cinder 3.40): runs once each time the counter goes up.
    revert_count: int = 0
    revert_snapshot_id: str = ""
    uploads: list[DesiredVolumeUpload] = field(default_factory=list)
    backups: list[DesiredBackup] = field(default_factory=list)
    # rbd only: where the image lives (the agent's own cluster settings otherwise).
    rbd_pool: str = "volumes"


@dataclass(frozen=True)
class DesiredExport(Wire):
    """Serve a volume this host holds to a guest on another host, over NBD with TLS-PSK."""

    attachment_id: str
    volume_id: str
    client_host: str
    # The client host's PSK (identity and hex key): only it may open the export.
    psk_identity: str = ""
    psk_key: str = ""
    readonly: bool = False


# -- networking: what the dataplane of one host must build ------------------------------
#
# Addresses are strings; an interface address carries its prefix ("10.0.0.1/24").
# Ids are Neutron's: a network, port or router keeps its id from API to dataplane,
# and the dataplane derives device names from them (see gureum/agent/dataplane/names.py).


@dataclass(frozen=True)
class DesiredSubnet(Wire):
    id: str
    cidr: str
    ip_version: int = 4
    gateway_ip: str | None = None
    enable_dhcp: bool = True
    dns_nameservers: list[str] = field(default_factory=list)
    # [{"destination": cidr, "nexthop": ip}]
    host_routes: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class DesiredFixedIp(Wire):
    subnet_id: str
    ip_address: str


@dataclass(frozen=True)
class DesiredNetwork(Wire):
    """A network this host has a port on (a guest's, its DHCP port or a router leg)."""

    id: str
    # flat | vlan | vxlan
    network_type: str
    physical_network: str = ""
    segmentation_id: int | None = None
    mtu: int = 1500
    subnets: list[DesiredSubnet] = field(default_factory=list)
    # Underlay addresses of the other hosts with a port on this VXLAN network: the
    # bridge floods broadcast and unknown unicast to each of them (no multicast needed).
    vxlan_peers: list[str] = field(default_factory=list)
    # This host's DHCP port on the network (None: no subnet with DHCP). dnsmasq answers
    # only for the ports of this host, so every host can serve its own guests; the
    # metadata server listens on 169.254.169.254:80 in the same namespace.
    dhcp_port_id: str | None = None
    dhcp_mac: str | None = None
    dhcp_fixed_ips: list[DesiredFixedIp] = field(default_factory=list)


@dataclass(frozen=True)
class DesiredPort(Wire):
    """A guest's port on this host: a tap on the network's bridge, filtered by its groups."""

    id: str
    mac: str
    network_id: str
    # The instance it belongs to (Neutron's device_id).
    device_id: str
    fixed_ips: list[DesiredFixedIp] = field(default_factory=list)
    # The guest's hostname, for its DHCP host entry.
    hostname: str = ""
    admin_state_up: bool = True
    port_security_enabled: bool = True
    security_group_ids: list[str] = field(default_factory=list)
    # [{"ip_address": ip or cidr, "mac_address": mac}]: also allowed as the port's source.
    allowed_address_pairs: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class DesiredRule(Wire):
    # ingress | egress
    direction: str
    # IPv4 | IPv6
    ethertype: str = "IPv4"
    # None (any), or a name (tcp, udp, icmp, icmpv6, ...) or an IP protocol number as a string
    protocol: str | None = None
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote_ip_prefix: str | None = None
    remote_group_id: str | None = None


@dataclass(frozen=True)
class DesiredSecurityGroup(Wire):
    id: str
    stateful: bool = True
    rules: list[DesiredRule] = field(default_factory=list)
    # Fixed IPs (and address-pair prefixes) of every port in the group, on any host:
    # what a rule with this group as remote_group_id matches.
    member_ips: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DesiredRouterLeg(Wire):
    """One interface of a router: its port, on a network, with addresses like 10.0.0.1/24."""

    port_id: str
    mac: str
    network_id: str
    addresses: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DesiredFloatingIp(Wire):
    id: str
    floating_ip: str
    fixed_ip: str
    port_id: str


@dataclass(frozen=True)
class DesiredRouter(Wire):
    """A router placed on this host: a namespace with a leg per interface and NAT."""

    id: str
    admin_state_up: bool = True
    gateway: DesiredRouterLeg | None = None
    # The external subnet's gateway: the router's default route.
    gateway_nexthop: str | None = None
    enable_snat: bool = True
    interfaces: list[DesiredRouterLeg] = field(default_factory=list)
    # [{"destination": cidr, "nexthop": ip}]
    routes: list[dict[str, str]] = field(default_factory=list)
    floating_ips: list[DesiredFloatingIp] = field(default_factory=list)


@dataclass(frozen=True)
class DesiredNetworking(Wire):
    networks: list[DesiredNetwork] = field(default_factory=list)
    ports: list[DesiredPort] = field(default_factory=list)
    security_groups: list[DesiredSecurityGroup] = field(default_factory=list)
    routers: list[DesiredRouter] = field(default_factory=list)


@dataclass(frozen=True)
class DesiredHostState(Wire):
    hostname: str
    revision: int
    instances: list[DesiredInstance]
    networking: DesiredNetworking = field(default_factory=DesiredNetworking)
    volumes: list[DesiredVolume] = field(default_factory=list)
    exports: list[DesiredExport] = field(default_factory=list)


@dataclass(frozen=True)
class ObservedInstance(Wire):
    uuid: str
    # Nova's power_state numbers: 0 nostate, 1 running, 3 paused, 4 shutdown, 6 crashed, 7 suspended.
    power_state: int
    # False once the node holds nothing of it any more (after a delete).
    present: bool = True
    reboot_count: int = 0
    rebuild_count: int = 0
    resize_count: int = 0
    snapshots_done: list[str] = field(default_factory=list)
    snapshots_failed: dict[str, str] = field(default_factory=dict)
    # Plain words for the operator and the user: what failed and what to do.
    error: str | None = None
    # The tail of the serial console, sent only when it changed.
    console_tail: str | None = None
    # Slow work running for it beside the reconcile pass ("fetch image ID", "snapshot ID"):
    # until it ends the instance is still building or uploading.
    activity: str | None = None
    # Attachment ids whose disk QEMU shows (hot-plugged, or built in at launch).
    volumes_attached: list[str] = field(default_factory=list)
    # Attachment ids detached in the desired state whose disk the guest has not released
    # (no DEVICE_DELETED within 10 s): retried every pass; stop/start settles it.
    detach_pending: list[str] = field(default_factory=list)
    # Attachment id -> what failed attaching or detaching it, in plain words.
    volume_errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObservedVolume(Wire):
    id: str
    # False once the host holds nothing of it (after a delete): the controller forgets it.
    present: bool = True
    size_gb: int = 0
    # Bytes really used (the qcow2 file's allocation, rbd's used size).
    allocated_bytes: int = 0
    # Snapshot ids present on it.
    snapshots: list[str] = field(default_factory=list)
    revert_count: int = 0
    uploads_done: list[str] = field(default_factory=list)
    uploads_failed: dict[str, str] = field(default_factory=dict)
    backups_done: list[str] = field(default_factory=list)
    backups_failed: dict[str, str] = field(default_factory=dict)
    # A create/extend/snapshot/delete that failed, in plain words (retried every pass,
    # except a source that cannot fit, which stays an error until the volume is deleted).
    error: str | None = None
    # True while a slow step (image -> volume, upload) runs in the background.
    busy: bool = False


@dataclass(frozen=True)
class ObservedBackend(Wire):
    """One volume backend of this host and its room, so placement can refuse what will not fit."""

    name: str  # file | rbd
    total_bytes: int = 0
    free_bytes: int = 0
    # Why the backend cannot serve (e.g. no Ceph configured, lvm: no device-mapper here).
    error: str | None = None


@dataclass(frozen=True)
class HostCapabilities(Wire):
    """What this host's hypervisor can do, as Nova's virt drivers declare `capabilities`, so the
    scheduler and the API refuse by capability instead of the node failing the action.

    The defaults are what an agent that reports no capabilities could do (all older agents)."""

    # kvm | tcg: the accelerator guests run under.
    accel: str = "tcg"
    # Images are cached once per host and shared by every overlay.
    has_imagecache: bool = True
    supports_snapshot: bool = True
    supports_pause: bool = True
    supports_suspend: bool = True
    supports_resize: bool = True
    # Volumes hot-plugged into a running guest (and detached again).
    supports_attach_volume: bool = False
    supports_extend_volume: bool = False
    supports_multiattach: bool = False
    # Ports hot-plugged into a running guest (and detached again).
    supports_attach_interface: bool = False


@dataclass(frozen=True)
class HostCapacity(Wire):
    vcpus: int
    memory_mb: int
    disk_gb: int
    hypervisor_type: str = "QEMU"
    hypervisor_version: int = 0
    accelerator: str = "tcg"
    architecture: str = "x86_64"
    host_ip: str = ""
    cpu_info: dict[str, Any] = field(default_factory=dict)
    availability_zone: str = "nova"
    # Physical network name -> bridge (or interface) on this host, like the seed's provider:br-ex.
    bridge_mappings: dict[str, str] = field(default_factory=dict)
    # Whether the kernel can make 802.1Q VLAN interfaces (vlan provider networks need it).
    vlan_supported: bool = False
    capabilities: HostCapabilities = field(default_factory=HostCapabilities)


@dataclass(frozen=True)
class HostReport(Wire):
    hostname: str
    capacity: HostCapacity
    # Every instance the node holds, including ones the controller no longer wants.
    instances: list[ObservedInstance]
    applied_revision: int = 0
    agent_version: str = ""
    # Ports whose tap (or router leg) is plugged and filtered: their status becomes ACTIVE.
    ports_up: list[str] = field(default_factory=list)
    # Floating IPs whose NAT rules are in place: their status becomes ACTIVE.
    floating_ips_up: list[str] = field(default_factory=list)
    # What the dataplane could not build, by network/port/router id, in plain words.
    network_errors: dict[str, str] = field(default_factory=dict)
    # Every volume the host holds, including ones the controller no longer wants.
    volumes: list[ObservedVolume] = field(default_factory=list)
    volume_backends: list[ObservedBackend] = field(default_factory=list)
    # Attachment ids whose NBD export is served, and where ("host:port"; "" when none).
    exports_up: list[str] = field(default_factory=list)
    nbd_address: str = ""
    # Attachment id (or "nbd" for the server itself) -> why its export is not up, in plain words.
    export_errors: dict[str, str] = field(default_factory=dict)


