"""`gureum agent`: register, watch desired state, reconcile, report; forever.

Guests are separate processes: stopping or killing the agent leaves them
running, and the next agent adopts them. A controller that is away only
delays changes; the node keeps what it has.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from gureum import __version__
from gureum.agent import node
from gureum.agent.applied import AppliedStore
from gureum.agent.console import ConsoleRelay
from gureum.agent.client import ControllerClient, ControllerRefused, ControllerUnreachable
from gureum.agent.dataplane import LinuxDataplane
from gureum.agent.dataplane.dns import parse_upstream
from gureum.agent.metadata_index import MetadataIndex
from gureum.agent.hypervisor import QemuHypervisor
from gureum.agent.hypervisor.accel import Accel
from gureum.agent.imagecache import ImageCache
from gureum.agent.protocol import DesiredHostState, HostReport
from gureum.agent.reconcile import Reconciler
from gureum.agent.storage.rbd import RbdBackend
from gureum.agent.volume_node import volume_parts

log = logging.getLogger("gureum.agent")

HEARTBEAT_SECONDS = 10.0
DESIRED_WAIT_SECONDS = 10.0
RETRY_SECONDS = 2.0


@dataclass(frozen=True)
class AgentSettings:
    controller_url: str
    token: str
    state_dir: Path
    hostname: str = ""
    accel: str | None = None
    availability_zone: str = "nova"
    # The dataplane's host namespace (None: this host's own), name prefix, mappings, VXLAN address.
    netns: str | None = None
    name_prefix: str = ""
    bridge_mappings: dict[str, str] = field(default_factory=dict)
    local_ip: str = ""
    # Ceph for rbd volumes: a ceph.conf on this host and the cephx user ("": no rbd here).
    rbd_conf: str = ""
    rbd_user: str = "admin"
    rbd_pool: str = "volumes"
    # Where the DHCP ports' DNS relay sends guests' queries ("ip" or "ip:port"); None: this
    # host's /etc/resolv.conf; []: nowhere (every query gets SERVFAIL).
    dns_upstreams: list[str] | None = None

    @property
    def effective_hostname(self) -> str:
        return self.hostname or socket.gethostname()


class Agent:
    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self.hostname = settings.effective_hostname
        state = settings.state_dir
        state.mkdir(parents=True, exist_ok=True)
        self.client = ControllerClient(settings.controller_url, settings.token)
        self.local_ip = settings.local_ip or node.host_ip()
        self.metadata = MetadataIndex()
        self.dataplane = LinuxDataplane(state_dir=state / "dataplane", host_netns=settings.netns,
                                   bridge_mappings=dict(settings.bridge_mappings), local_ip=self.local_ip,
                                   name_prefix=settings.name_prefix, metadata_lookup=self.metadata.lookup,
                                   dns_upstreams=None if settings.dns_upstreams is None
                                   else [parse_upstream(u) for u in settings.dns_upstreams])
        self.hypervisor = QemuHypervisor(state / "instances", accel=Accel(settings.accel) if settings.accel else None,
                                         command_prefix=self.dataplane.command_prefix())
        images = ImageCache(state / "image-cache", self.client)
        self.volumes, guest_volumes = volume_parts(state, self.hypervisor, images, self.client,
                                                   storage_address=self.local_ip,
                                                   command_prefix=self.dataplane.command_prefix(),
                                                   rbd=RbdBackend(settings.rbd_pool, Path(settings.rbd_conf),
                                                                  settings.rbd_user)
                                                   if settings.rbd_conf else None,
                                                   wake=self.wake_pass)
        self.reconciler = Reconciler(
            self.hypervisor,
            images,
            AppliedStore(state / "applied"),
            self.client,
            state / "scratch",
            dataplane=self.dataplane,
            metadata=self.metadata,
            wake=self.wake_pass,
            volumes=self.volumes,
            guest_volumes=guest_volumes,
        )
        self.vlan_supported = self.dataplane.vlan_supported()
        self.stopping = threading.Event()
        self._report_lock = threading.Lock()
        self.applied_revision = -1
        # The newest desired state the watcher fetched, and a wish for a pass over it.
        self._desired: DesiredHostState | None = None
        self._pass_wanted = threading.Event()

    def wake_pass(self) -> None:
        self._pass_wanted.set()

    def report(self) -> int:
        network = self.reconciler.network
        with self._report_lock:
            report = HostReport(
                hostname=self.hostname,
                capacity=replace(
                    node.capacity(self.hypervisor.instances_dir, self.hypervisor.accel.value,
                                  self.settings.availability_zone),
                    host_ip=self.local_ip, bridge_mappings=dict(self.settings.bridge_mappings),
                    vlan_supported=self.vlan_supported, capabilities=self.hypervisor.capabilities),
                instances=self.reconciler.observe_all(),
                applied_revision=self.applied_revision,
                agent_version=__version__,
                ports_up=sorted(network.ports_up),
                floating_ips_up=sorted(network.floating_ips_up),
                network_errors=dict(network.errors),
                volumes=self.volumes.observe(),
                volume_backends=self.volumes.observe_backends(),
                exports_up=list(self.volumes.exports.up),
                nbd_address=self.volumes.exporter.address if self.volumes.exporter else "",
                export_errors=dict(self.volumes.exports.errors),
            )
            return self.client.report(report)

    def _heartbeat(self) -> None:
        while not self.stopping.wait(HEARTBEAT_SECONDS):
            try:
                self.report()
            except (ControllerUnreachable, ControllerRefused) as exc:
                log.warning("heartbeat failed: %s", exc)

    def _watch_desired(self) -> None:
        """Long-poll the desired state; every answer (a change, or the resync after the wait) asks for a pass."""
        seen = -1
        while not self.stopping.is_set():
            try:
                desired = self.client.desired(self.hostname, seen, DESIRED_WAIT_SECONDS)
            except ControllerUnreachable as exc:
                log.warning("controller unreachable, guests keep running; retrying: %s", exc)
                self.stopping.wait(RETRY_SECONDS)
                continue
            except ControllerRefused as exc:
                log.error("controller refused the agent: %s", exc)
                self.stopping.wait(RETRY_SECONDS * 5)
                continue
            seen = desired.revision
            self._desired = desired
            self.wake_pass()

    def run(self) -> None:
        """Passes run here, one at a time: on each new desired state, each resync, and each job's end."""
        log.info("agent for host %s, controller %s, accelerator %s", self.hostname,
                 self.settings.controller_url, self.hypervisor.accel.value)
        threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True).start()
        # Registered first: desired state is read for a host the controller knows.
        while not self._report_quietly() and not self.stopping.wait(RETRY_SECONDS):
            pass
        threading.Thread(target=self._watch_desired, name="desired-watch", daemon=True).start()
        consoles = ConsoleRelay(self.settings.controller_url, self.settings.token, self.hostname,
                                self.hypervisor.instances_dir)
        threading.Thread(target=consoles.watch, args=(self.stopping,), name="console-watch", daemon=True).start()
        while not self.stopping.is_set():
            self._pass_wanted.wait(HEARTBEAT_SECONDS)
            if self.stopping.is_set():
                break
            self._pass_wanted.clear()
            desired = self._desired
            if desired is None:
                continue
            self.reconciler.reconcile(desired)
            self.applied_revision = desired.revision
            self._report_quietly()
        self.dataplane.close()
        self.volumes.close()
        log.info("agent stopped; guests and the dataplane keep running")

    def _report_quietly(self) -> bool:
        try:
            self.report()
            return True
        except ControllerUnreachable as exc:
            log.warning("report failed, guests keep running: %s", exc)
        except ControllerRefused as exc:
            log.error("controller refused the report: %s", exc)
        return False

    def stop(self) -> None:
        self.stopping.set()
        self._pass_wanted.set()  # the pass loop waits on this, not on stopping: wake it to end now
