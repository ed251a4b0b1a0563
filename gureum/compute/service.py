"""The compute service: server life cycle as desired state, and what agents observe.

The API changes rows here (instance, claim, host revision); agents read their
host's desired state and report back; `apply_report` moves each instance along
Nova's states from what the node really shows. Nothing is sent to a node.
"""

from __future__ import annotations

import logging
import os
import secrets
import uuid
from contextlib import nullcontext
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gureum.agent.protocol import (
    AGENT_TOKEN_FILE,
    DesiredHostState,
    DesiredInstance,
    DesiredNic,
    DesiredSnapshot,
    HostReport,
    ObservedInstance,
)
from gureum.compute import addresses, scheduler, states
from gureum.compute.actions import ServerActions
from gureum.compute.block_devices import BlockDevices
from gureum.compute.volumes_proxy import VolumeProxy
from gureum.compute.boot import ServerRequest, resolve
from gureum.compute.security_groups import SecurityGroupProxy
from gureum.compute.quotas import check_instances, check_server_group_members
from gureum.compute.models import Allocation, ConsoleLog, Host, Instance, InstanceAction, ServerGroup
from gureum.compute.signals import HostSignals
from gureum.db.base import utcnow
from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest
from gureum.policy import enforces
from gureum.network import desired as desired_net

if TYPE_CHECKING:
    from gureum.cloud import Cloud

log = logging.getLogger(__name__)


def fault(message: str, code: int = 500) -> dict[str, Any]:
    return {"code": code, "message": message, "created": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")}


def hostname_for(name: str) -> str:
    """Nova's sanitised hostname: letters, digits and dashes, at most 63."""
    cleaned = "".join(c if c.isalnum() or c == "-" else "-" for c in name.lower()).strip("-.")
    return (cleaned or "server")[:63]


class ComputeService(ServerActions, BlockDevices, SecurityGroupProxy, VolumeProxy):
    """Nova's compute API class and conductor: guarded actions (actions.py), create and place."""

    def __init__(self, cloud: "Cloud") -> None:
        self.cloud = cloud
        self.signals = HostSignals()
        self.agent_token = ""
        self._network_errors: dict[str, dict[str, str]] = {}

    # -- life cycle -------------------------------------------------------------

    def start(self) -> None:
        from gureum.compute import flavors, policies  # noqa: PLC0415

        self.cloud.policy.register_defaults(policies.COMPUTE_POLICIES)
        self.agent_token = self._ensure_agent_token()
        with self.cloud.db.session() as session:
            flavors.seed_default_flavors(session)
            scheduler.repair_usage(session)
            stranded = list(
                session.execute(
                    select(Instance.uuid).where(
                        Instance.deleted.is_(False), Instance.vm_state == states.BUILDING, Instance.host_id.is_(None)
                    )
                ).scalars()
            )
        # A controller that died between accepting a create and placing it finishes the job now.
        for instance_uuid in stranded:
            log.info("placing instance %s, left unscheduled by a previous run", instance_uuid)
            self.schedule(instance_uuid)

    def _ensure_agent_token(self) -> str:
        path = self.cloud.settings.state_dir / AGENT_TOKEN_FILE
        if path.exists():
            return path.read_text().strip()
        token = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        return token

    # -- create and place ------------------------------------------------------------

    @enforces("os_compute_api:servers:create")
    def create_servers(self, ctx: Any, request: ServerRequest) -> tuple[list[Instance], str]:
        """Nova's create: what the request names is checked, counted and made in one transaction."""
        reservation_id = "r-" + uuid.uuid4().hex[:8]
        with self.cloud.db.session() as session:
            boot = resolve(session, self.cloud, ctx, request)
            flavor = boot.flavor
            count = check_instances(session, ctx.project_id, int(flavor["vcpus"]), int(flavor["ram"]),
                                    request.min_count, request.max_count, ctx.user_id)
            if boot.group_id:
                check_server_group_members(session, ctx.project_id, boot.group_id, ctx.user_id, count)
            instances = []
            for index in range(count):
                name = request.name if count == 1 else f"{request.name}-{index + 1}"
                instance = Instance(
                    name=name,
                    hostname=hostname_for(name),
                    project_id=ctx.project_id,
                    user_id=ctx.user_id,
                    image_ref=request.image_id,
                    flavor=flavor,
                    availability_zone=request.availability_zone,
                    vm_state=states.BUILDING,
                    task_state="scheduling",
                    desired_power="running",
                    key_name=boot.key_name,
                    key_data=boot.key_data,
                    user_data=request.user_data,
                    config_drive=(self.cloud.settings.default_config_drive if request.config_drive is None
                                  else request.config_drive),
                    metadata_items=dict(request.metadata),
                    tags=list(request.tags),
                    security_groups=list(request.security_groups),
                    requested_networks=request.networks if isinstance(request.networks, list) else [request.networks],
                    server_group_id=boot.group_id,
                    access_ip_v4=request.access_ip_v4,
                    access_ip_v6=request.access_ip_v6,
                    description=request.description,
                    launch_index=index,
                    reservation_id=reservation_id,
                )
                session.add(instance)
                instances.append(instance)
            session.flush()
            self.prepare_block_devices(session, ctx, instances, request.block_devices)
            networks = addresses.resolve_networks(session, ctx, request.networks)
            if count > 1 and any(entry.get("port") or entry.get("fixed_ip") for entry in networks):
                raise BadRequest("Unable to launch multiple instances with a single configured port ID or "
                                 "fixed IP. Please launch your instances one by one with different ports.")
            for instance in instances:
                addresses.allocate_ports(session, self.cloud, ctx, instance, networks)
                self._record_action(session, ctx, instance.uuid, "create")
        for instance in instances:
            self.schedule(instance.uuid)
        return instances, reservation_id

    def demand_for(self, session: Session, instance: Instance, flavor: dict[str, Any] | None = None) -> scheduler.Demand:
        flavor = flavor or instance.flavor
        group_policy, group_hosts = None, frozenset()
        if instance.server_group_id:
            group = session.get(ServerGroup, instance.server_group_id)
            if group is not None:
                group_policy = group.policy
                group_hosts = frozenset(
                    h
                    for h in session.execute(
                        select(Instance.host_id).where(
                            Instance.server_group_id == group.id,
                            Instance.deleted.is_(False),
                            Instance.uuid != instance.uuid,
                            Instance.host_id.is_not(None),
                        )
                    ).scalars()
                )
        return scheduler.Demand(
            flavor_name=flavor.get("name", "the flavor"),
            vcpus=int(flavor["vcpus"]),
            memory_mb=int(flavor["ram"]),
            # Booted from a volume, the server has no root disk on the host (its volume holds it).
            disk_gb=(int(flavor["disk"]) if instance.image_ref else 0) + int(flavor.get("ephemeral", 0)) + (int(flavor.get("swap", 0)) + 1023) // 1024,
            availability_zone=instance.availability_zone,
            group_policy=group_policy,
            group_host_ids=group_hosts,
            image_properties=dict(flavor.get("image_properties", {})),
            extra_specs=dict(flavor.get("extra_specs", {})),
        )

    def schedule(self, instance_uuid: str) -> None:
        """Place one instance: claim on the best host, or ERROR with the reason in plain words."""
        placed_on: int | None = None
        with self.cloud.db.session() as session:
            instance = session.get(Instance, instance_uuid)
            if instance is None or instance.deleted or instance.host_id is not None:
                return
            demand = self.demand_for(session, instance)
            try:
                for host in scheduler.rank(session, demand, self.cloud.settings.scheduler_weigher):
                    if scheduler.claim(session, host, instance.uuid, demand):
                        instance.host_id = host.id
                        instance.task_state = "spawning"
                        placed_on = host.id
                        addresses.bind_ports(session, instance, host.hostname)
                        # Its volumes are plugged in there, and those made with it are made there.
                        self.cloud.volume.bind_server_attachments(session, instance.uuid, host.hostname)
                        # DHCP for the guest's networks is ready on its host before the guest asks.
                        desired_net.sync_dhcp_ports(session, host.hostname, self.cloud.network._new_mac)
                        break
                else:
                    raise scheduler.NoValidHost(
                        "Every host that fit was taken by other requests at the same moment; try again."
                    )
            except scheduler.NoValidHost as exc:
                instance.vm_state, instance.task_state = states.ERROR, None
                instance.fault = fault(f"No host can run this server: {exc}")
                log.warning("instance %s not placed: %s", instance.uuid, exc)
        if placed_on is not None:
            self.signals.notify([placed_on])

    # -- changes the API asks for ----------------------------------------------------

    def _record_action(self, session: Session, ctx: Any, instance_uuid: str, action: str) -> None:
        session.add(
            InstanceAction(
                request_id=getattr(ctx, "request_id", "") or "req-" + uuid.uuid4().hex,
                instance_uuid=instance_uuid,
                action=action,
                user_id=ctx.user_id,
                project_id=ctx.project_id or "",
            )
        )

    @staticmethod
    def _bump(session: Session, host_id: int) -> None:
        host = session.get(Host, host_id)
        if host is not None:
            host.desired_revision += 1

    # -- what agents read and report ---------------------------------------------------

    def host_by_name(self, session: Session, hostname: str) -> Host | None:
        return session.execute(select(Host).where(Host.hostname == hostname)).scalar_one_or_none()

    def desired_state(self, hostname: str) -> DesiredHostState:
        with self.cloud.db.read() as session:
            host = self.host_by_name(session, hostname)
            if host is None:
                return DesiredHostState(hostname=hostname, revision=0, instances=[])
            # Read first: a change committed while this runs shows up as a newer revision next time.
            network_revision = self.cloud.network.revision.current()
            volume_revision = self.cloud.volume.revision.current()
            rows = session.execute(
                select(Instance).where(Instance.host_id == host.id, Instance.deleted.is_(False))
            ).scalars()
            placed = [i for i in rows if i.vm_state != states.ERROR or i.launched_at]
            # Every guest's ports, NICs and network_data.json: a fixed number of statements per host.
            ports = {i.uuid: [] for i in placed} | addresses.ports_of(session, placed)
            nics = addresses.nics(session, ports)
            documents = self.cloud.network.guest_network_data(session, ports)
            instances = [self._desired(i, nics[i.uuid], documents[i.uuid]) for i in placed]
            # Block storage's share: the volumes this host holds, the disks each guest has plugged in.
            volumes, exports = self.cloud.volume.desired_for_host(session, hostname)
            attached = self.cloud.volume.attachments_for_instances(session, hostname, [i.uuid for i in instances])
            # A server booted from a volume is built once that volume is there to boot from.
            instances = [i for i in instances if i.image_id or any(a.boot_index == 0 for a in attached.get(i.uuid, []))]
            return DesiredHostState(
                hostname=hostname,
                # The counters only grow, so their sum does: a change to any wakes the agent.
                revision=host.desired_revision + network_revision + volume_revision,
                instances=[replace(i, volumes=attached.get(i.uuid, [])) for i in instances],
                networking=desired_net.host_networking(session, hostname),
                volumes=volumes,
                exports=exports,
            )

    def _desired(self, instance: Instance, nics: list[DesiredNic], network_data: dict[str, Any]) -> DesiredInstance:
        flavor = instance.flavor
        return DesiredInstance(
            uuid=instance.uuid,
            name=instance.name,
            hostname=instance.hostname,
            project_id=instance.project_id,
            vcpus=int(flavor["vcpus"]),
            memory_mb=int(flavor["ram"]),
            root_gb=int(flavor["disk"]) if instance.image_ref else 0,  # booted from a volume: no root disk
            image_id=instance.image_ref,
            power=instance.desired_power,
            reboot_count=instance.reboot_count,
            reboot_hard=instance.reboot_hard,
            rebuild_count=instance.rebuild_count,
            resize_count=instance.resize_count,
            snapshots=[DesiredSnapshot(**s) for s in instance.snapshot_requests or []],
            config_drive=instance.config_drive,
            public_keys={instance.key_name: instance.key_data} if instance.key_name and instance.key_data else {},
            user_data=instance.user_data,
            metadata={k: str(v) for k, v in (instance.metadata_items or {}).items()},
            availability_zone=instance.availability_zone or "nova",
            flavor_name=str(flavor.get("name", "")),
            launch_index=instance.launch_index,
            nics=nics,
            network_data=network_data,
        )

    def apply_report(self, report: HostReport) -> int:
        """Record a heartbeat and what the node shows; returns the host's desired revision."""
        with self.cloud.db.session() as session:
            host = self._upsert_host(session, report)
            observed = {o.uuid: o for o in report.instances}
            rows = session.execute(
                select(Instance).where(
                    Instance.host_id == host.id,
                    (Instance.deleted.is_(False)) | (Instance.task_state == "deleting"),
                )
            ).scalars()
            # The agent reporting here reads any desired change on its next poll: no wake-up needed.
            for instance in rows:
                self._observe(session, instance, observed.get(instance.uuid), host)
            self._observe_network(session, host, report)
            self.cloud.volume.observe_report(session, report)
            self._observe_boot_volumes(session, host)
            revision = (host.desired_revision + self.cloud.network.revision.current()
                        + self.cloud.volume.revision.current())
        return revision

    def _observe_boot_volumes(self, session: Session, host: Host) -> None:
        """A server waiting for its boot volume fails, saying why, when the volume cannot be made."""
        waiting = list(session.execute(select(Instance).where(
            Instance.host_id == host.id, Instance.deleted.is_(False), Instance.vm_state == states.BUILDING,
            Instance.image_ref == "")).scalars())
        problems = self.cloud.volume.boot_volume_ready(session, [i.uuid for i in waiting])
        for instance in waiting:
            problem = problems.get(instance.uuid)
            if problem:
                instance.vm_state, instance.task_state = states.ERROR, None
                instance.fault = fault(problem)
                log.warning("instance %s not built: %s", instance.uuid, problem)

    def _observe_network(self, session: Session, host: Host, report: HostReport) -> None:
        """Keep routers on live hosts and DHCP ports where guests are; take port status from the node."""
        desired_net.place_routers(session)
        desired_net.sync_dhcp_ports(session, host.hostname, self.cloud.network._new_mac)
        desired_net.record_dataplane_status(session, host.hostname, report.ports_up, report.floating_ips_up)
        # Said once per change, not on every heartbeat.
        if self._network_errors.get(host.hostname) != report.network_errors:
            self._network_errors[host.hostname] = dict(report.network_errors)
            for item, problem in report.network_errors.items():
                log.warning("dataplane on %s: %s: %s", host.hostname, item, problem)

    def _upsert_host(self, session: Session, report: HostReport) -> Host:
        cap = report.capacity
        host = self.host_by_name(session, report.hostname)
        if host is None:
            host = Host(hostname=report.hostname, desired_revision=1)
            session.add(host)
            log.info("compute host %s registered itself", report.hostname)
        host.vcpus, host.memory_mb, host.disk_gb = cap.vcpus, cap.memory_mb, cap.disk_gb
        host.hypervisor_type, host.hypervisor_version = cap.hypervisor_type, cap.hypervisor_version
        host.accelerator, host.architecture, host.host_ip = cap.accelerator, cap.architecture, cap.host_ip
        host.cpu_info, host.availability_zone = cap.cpu_info, cap.availability_zone or "nova"
        if host.bridge_mappings != cap.bridge_mappings:
            host.bridge_mappings = dict(cap.bridge_mappings)
        host.vlan_supported = cap.vlan_supported
        host.agent_version = report.agent_version
        host.last_seen_at = utcnow()
        session.flush()
        return host

    def _observe(self, session: Session, instance: Instance, seen: ObservedInstance | None, host: Host) -> None:
        """Move one instance along from what its node shows."""
        if seen is not None and seen.console_tail is not None:
            console = session.get(ConsoleLog, instance.uuid)
            if console is None:
                session.add(ConsoleLog(instance_uuid=instance.uuid, text=seen.console_tail))
            else:
                console.text = seen.console_tail
        if instance.deleted:
            if seen is None or not seen.present:
                instance.task_state = None
                scheduler.release(session, instance.uuid)
                session.query(ConsoleLog).filter(ConsoleLog.instance_uuid == instance.uuid).delete()
            return
        if seen is None:
            if instance.vm_state in (states.ACTIVE, states.STOPPED, states.PAUSED, states.SUSPENDED) and instance.launched_at:
                # The node lost it (disk removed by hand, host rebuilt): say so, do not guess.
                instance.vm_state, instance.task_state = states.ERROR, None
                instance.fault = fault(
                    f"The guest's files are gone from host {host.hostname}. Rebuild the server "
                    "(openstack server rebuild) or delete it."
                )
            return
        instance.power_state = seen.power_state
        self._finish_snapshots(session, instance, seen)
        if seen.error:
            if instance.vm_state != states.ERROR or (instance.fault or {}).get("message") != seen.error:
                instance.vm_state, instance.task_state = states.ERROR, None
                instance.fault = fault(seen.error)
                log.warning("instance %s failed on %s: %s", instance.uuid, host.hostname, seen.error)
            return
        task = instance.task_state
        running = seen.power_state == states.RUNNING
        wanted = states.POWER_FOR_DESIRED.get(instance.desired_power)
        if instance.vm_state == states.BUILDING:
            if running:
                instance.vm_state, instance.task_state = states.ACTIVE, None
                instance.launched_at = instance.launched_at or utcnow()
            return
        if task in ("rebooting", "rebooting_hard"):
            if seen.reboot_count >= instance.reboot_count and running:
                instance.task_state = None
            return
        if task in ("rebuilding", "rebuild_spawning"):
            if seen.rebuild_count >= instance.rebuild_count and seen.power_state == wanted:
                instance.task_state = None
                instance.vm_state = states.VM_STATE_FOR_DESIRED[instance.desired_power]
            return
        if task in ("resize_prep", "resize_migrating", "resize_finish"):
            if seen.resize_count >= instance.resize_count and seen.power_state == wanted:
                instance.vm_state, instance.task_state = states.RESIZED, None
            return
        if task == "resize_reverting":
            if seen.resize_count >= instance.resize_count and seen.power_state == wanted:
                instance.vm_state = states.VM_STATE_FOR_DESIRED[instance.desired_power]
                instance.task_state = None
            return
        if task in ("powering-off", "powering-on", "pausing", "unpausing", "suspending", "resuming"):
            if seen.power_state == wanted:
                instance.vm_state = states.VM_STATE_FOR_DESIRED[instance.desired_power]
                instance.task_state = None
            return
        if task is None and instance.vm_state == states.ACTIVE and seen.power_state == states.SHUTDOWN:
            # The guest powered itself off: Nova's power-state sync calls that stopped.
            instance.vm_state, instance.desired_power = states.STOPPED, "stopped"
            self._bump(session, host.id)

    def _finish_snapshots(self, session: Session, instance: Instance, seen: ObservedInstance) -> None:
        pending = list(instance.snapshot_requests or [])
        if not pending:
            return
        done = set(seen.snapshots_done) | set(seen.snapshots_failed)
        remaining = [s for s in pending if s["image_id"] not in done]
        for image_id, reason in seen.snapshots_failed.items():
            if any(s["image_id"] == image_id for s in pending):
                instance.fault = fault(f"Snapshot {image_id} failed: {reason}")
                self._drop_failed_snapshot(image_id, instance.project_id, reason)
        if len(remaining) != len(pending):
            instance.snapshot_requests = remaining
            if not remaining and instance.task_state in ("image_snapshot", "image_pending_upload", "image_uploading"):
                instance.task_state = None
            if instance.host_id is not None:
                self._bump(session, instance.host_id)

    def _drop_failed_snapshot(self, image_id: str, project_id: str, reason: str) -> None:
        log.warning("snapshot image %s failed, deleting it: %s", image_id, reason)
        report = self.cloud.db.current
        try:
            # A savepoint: a delete that fails leaves the report's own writes whole.
            with report.begin_nested() if report is not None else nullcontext():
                self.cloud.image.delete_image(service_context(project_id), image_id)
        except Exception:  # noqa: BLE001 - a missing image is already what we want
            log.info("snapshot image %s was already gone", image_id)

    def allocation_of(self, session: Session, instance_uuid: str) -> Allocation | None:
        return session.execute(select(Allocation).where(Allocation.instance_uuid == instance_uuid)).scalar_one_or_none()

    def console_tail(self, instance_uuid: str) -> str:
        with self.cloud.db.read() as session:
            console = session.get(ConsoleLog, instance_uuid)
            return console.text if console else ""


def service_context(project_id: str, user_id: str = "gureum-compute") -> RequestContext:
    """The compute service acting for a project (snapshots it stores on the user's behalf)."""
    return RequestContext(
        user_id=user_id, user_name="gureum-compute", user_domain_id="default", user_domain_name="Default",
        roles=("admin", "member", "reader"), project_id=project_id,
    )


def utc_iso(when: datetime | None) -> str | None:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when else None
