"""Server actions as Nova's compute API class has them: guarded, one transaction each.

Every action loads the server, enforces its policy on the row, checks the lock and
the vm_state/task_state it needs (Nova's `check_instance_lock` and
`check_instance_state`), and writes with compare-and-swap: the UPDATE repeats the
guard in its WHERE clause and must touch exactly one row. Two actions at once on
one server therefore never both win: the loser answers 409 in Nova's words, whether
it lost at the check (SQLite writers queue up) or at the UPDATE (PostgreSQL).

Lock order is host row, then instance row, in every action, as in the scheduler's
claims and the agent's reports, so two writers never wait on each other in a circle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from gureum.compute import addresses, scheduler, states
from gureum.compute.flavors import find_flavor, flavor_snapshot
from gureum.compute.hosts import is_up
from gureum.compute.keypairs import get_keypair
from gureum.compute import listing
from gureum.compute.loader import ServerShown, load_server, load_servers
from gureum.compute.models import Host, Instance
from gureum.compute.quotas import check_quota
from gureum.compute.validation import check_image_fits
from gureum.db.base import utcnow
from gureum.http.context import RequestContext
from gureum.http.errors import ApiError, BadRequest, Conflict, NotFound
from gureum.image.views import BASE_KEYS

if TYPE_CHECKING:
    from gureum.cloud import Cloud
    from gureum.compute.signals import HostSignals

ANY = None  # a guard that accepts every state


def target(instance: Instance) -> dict[str, Any]:
    return {"project_id": instance.project_id, "user_id": instance.user_id}


def state_conflict(action: str, instance_uuid: str, attr: str, state: Any) -> Conflict:
    """Nova's InstanceInvalidState."""
    return Conflict(f"Cannot '{action}' instance {instance_uuid} while it is in {attr} {state}")


@dataclass(frozen=True)
class Guard:
    """What an action needs of the server: Nova's check_instance_lock and check_instance_state."""

    action: str
    vm_states: tuple[str, ...] | None = ANY
    task_states: tuple[str | None, ...] | None = (None,)
    lock: bool = True

    def check(self, ctx: RequestContext, instance: Instance) -> None:
        if instance.deleted:
            raise NotFound(f"Instance {instance.uuid} could not be found.")
        if self.lock and instance.locked and not ctx.is_admin:
            raise Conflict(f"Instance {instance.uuid} is locked")
        if self.vm_states is not None and instance.vm_state not in self.vm_states:
            raise state_conflict(self.action, instance.uuid, "vm_state", instance.vm_state)
        if self.task_states is not None and instance.task_state not in self.task_states:
            raise state_conflict(self.action, instance.uuid, "task_state", instance.task_state)

    def where(self, ctx: RequestContext, instance_uuid: str) -> list[Any]:
        """The same guard as SQL, for the compare-and-swap."""
        clauses: list[Any] = [Instance.uuid == instance_uuid, Instance.deleted.is_(False)]
        if self.lock and not ctx.is_admin:
            clauses.append(Instance.locked.is_(False))
        if self.vm_states is not None:
            clauses.append(Instance.vm_state.in_(self.vm_states))
        if self.task_states is not None:
            named = [t for t in self.task_states if t is not None]
            either = [Instance.task_state.in_(named)] if named else []
            if None in self.task_states:
                either.append(Instance.task_state.is_(None))
            clauses.append(or_(*either))
        return clauses


@dataclass(frozen=True)
class PowerAction:
    policy: str
    vm_states: tuple[str, ...]
    desired_power: str
    task_state: str


# Nova's power actions: the states each starts from, and where it takes the server.
POWER_ACTIONS: dict[str, PowerAction] = {
    "start": PowerAction("os_compute_api:servers:start", (states.STOPPED,), "running", "powering-on"),
    "stop": PowerAction("os_compute_api:servers:stop", (states.ACTIVE, states.ERROR, states.RESIZED),
                        "stopped", "powering-off"),
    "pause": PowerAction("os_compute_api:os-pause-server:pause", (states.ACTIVE,), "paused", "pausing"),
    "unpause": PowerAction("os_compute_api:os-pause-server:unpause", (states.PAUSED,), "running", "unpausing"),
    "suspend": PowerAction("os_compute_api:os-suspend-server:suspend", (states.ACTIVE, states.PAUSED),
                           "suspended", "suspending"),
    "resume": PowerAction("os_compute_api:os-suspend-server:resume", (states.SUSPENDED,), "running", "resuming"),
}

UNSET: Any = object()  # a rebuild field the request did not give


@dataclass(frozen=True)
class RebuildRequest:
    """A parsed rebuild: the fields the caller gave (UNSET: keep the server's)."""

    image_id: str
    name: Any = UNSET
    metadata: Any = UNSET
    description: Any = UNSET
    key_name: Any = UNSET  # None: drop the key
    user_data: Any = UNSET
    access_ip_v4: Any = UNSET
    access_ip_v6: Any = UNSET


class ServerActions:
    """The server actions of ComputeService (a mixin: they share its cloud and signals)."""

    cloud: "Cloud"
    signals: "HostSignals"
    _record_action: Callable[..., None]
    demand_for: Callable[..., scheduler.Demand]

    # -- the guard and its write -------------------------------------------------------

    def _load(self, session: Session, ctx: RequestContext, server_id: str) -> Instance:
        """The live server if the caller may see it; else Nova's 404."""
        instance = session.get(Instance, server_id) if server_id else None
        if instance is None or instance.deleted or (instance.project_id != ctx.project_id and not ctx.is_admin):
            raise NotFound(f"Instance {server_id} could not be found.")
        return instance

    def _authorize(self, session: Session, ctx: RequestContext, server_id: str, policy: str,
                   guard: Guard | None = None) -> Instance:
        instance = self._load(session, ctx, server_id)
        self.cloud.policy.enforce(ctx, policy, target(instance))
        if guard is not None:
            guard.check(ctx, instance)
        return instance

    @staticmethod
    def _bump_host(session: Session, host_id: int | None) -> None:
        """A new desired revision for the server's host (taken first: hosts lock before instances)."""
        if host_id is not None:
            session.execute(update(Host).where(Host.id == host_id)
                            .values(desired_revision=Host.desired_revision + 1)
                            .execution_options(synchronize_session=False))

    def _swap(self, session: Session, ctx: RequestContext, instance: Instance, guard: Guard,
              values: dict[str, Any]) -> None:
        """Write `values` only if the server still passes `guard`; else 409 with what it is now."""
        result = session.execute(update(Instance).where(*guard.where(ctx, instance.uuid)).values(**values)
                                 .execution_options(synchronize_session=False))
        session.refresh(instance)
        if result.rowcount != 1:
            guard.check(ctx, instance)  # says what changed under us
            raise state_conflict(guard.action, instance.uuid, "task_state", instance.task_state)
        self._record_action(session, ctx, instance.uuid, guard.action)

    def _act(self, ctx: RequestContext, server_id: str, policy: str, guard: Guard,
             values: Callable[[Instance], dict[str, Any]]) -> Instance:
        """The common action: authorize, guard, bump the host, compare-and-swap, wake the host."""
        with self.cloud.db.session() as session:
            instance = self._authorize(session, ctx, server_id, policy, guard)
            host_id = instance.host_id
            self._bump_host(session, host_id)
            self._swap(session, ctx, instance, guard, values(instance))
        self._wake(host_id)
        return instance

    def _volumes_of(self, ctx: RequestContext, instance_uuids: list[str]) -> dict[str, list[tuple[str, bool]]]:
        """(volume id, delete_on_termination) per server, for the views' volumes_attached."""
        found = self.cloud.volume.server_attachments(ctx, instance_uuids)
        return {uuid: [(a.volume_id, a.delete_on_termination) for a in rows] for uuid, rows in found.items()}

    def _wake(self, host_id: int | None) -> None:
        if host_id is not None:
            self.signals.notify([host_id])

    # -- reading a server --------------------------------------------------------------

    def get_server(self, ctx: RequestContext, server_id: str) -> Instance:
        """The server if it exists and the caller may see it (no policy: callers check their own)."""
        with self.cloud.db.read() as session:
            return self._load(session, ctx, server_id)

    def show_server(self, ctx: RequestContext, server_id: str) -> ServerShown:
        with self.cloud.db.read() as session:
            instance = self._authorize(session, ctx, server_id, "os_compute_api:servers:show")
            return load_server(session, instance, self._volumes_of(ctx, [instance.uuid]))

    def update_server(self, ctx: RequestContext, server_id: str, changes: dict[str, Any]) -> ServerShown:
        """PUT /servers/{id}: name, description and access addresses (already validated)."""
        allowed = {"name", "description", "access_ip_v4", "access_ip_v6"}
        with self.cloud.db.session() as session:
            instance = self._authorize(session, ctx, server_id, "os_compute_api:servers:update")
            for key, value in changes.items():
                if key in allowed:
                    setattr(instance, key, value)
            session.flush()
            return load_server(session, instance, self._volumes_of(ctx, [instance.uuid]))

    def list_servers(self, ctx: RequestContext, params: Mapping[str, str], detailed: bool,
                     locked_filter: bool = False) -> tuple[list[ServerShown], str | None]:
        """A page of servers as Nova lists them, and the marker of the next page (None: last page)."""
        action = "os_compute_api:servers:detail" if detailed else "os_compute_api:servers:index"
        self.cloud.policy.enforce(ctx, action, {"project_id": ctx.project_id})
        if listing.all_tenants(params):
            self.cloud.policy.enforce(ctx, action + ":get_all_tenants", {"project_id": ctx.project_id})
        stmt = listing.query(ctx, params)
        if stmt is None:
            return [], None
        with self.cloud.db.read() as session:
            rows = listing.filter_rows(session, list(session.scalars(stmt)), params, locked_filter)
            page, next_marker = listing.paginate(rows, params)
            if not detailed:
                return [ServerShown(instance=r, host=None, addresses=None, security_groups=None) for r in page], \
                    next_marker
            return load_servers(session, page, self._volumes_of(ctx, [r.uuid for r in page])), next_marker

    # -- power -------------------------------------------------------------------------

    def power_action(self, ctx: RequestContext, server_id: str, action: str) -> Instance:
        """start, stop, pause, unpause, suspend, resume."""
        power = POWER_ACTIONS[action]
        guard = Guard(action, power.vm_states)
        return self._act(ctx, server_id, power.policy, guard,
                         lambda _i: {"desired_power": power.desired_power, "task_state": power.task_state})

    def start_server(self, ctx: RequestContext, server_id: str) -> Instance:
        return self.power_action(ctx, server_id, "start")

    def stop_server(self, ctx: RequestContext, server_id: str) -> Instance:
        return self.power_action(ctx, server_id, "stop")

    def reboot_server(self, ctx: RequestContext, server_id: str, hard: bool) -> Instance:
        if hard:
            guard = Guard("reboot", (states.ACTIVE, states.STOPPED, states.PAUSED, states.SUSPENDED, states.ERROR),
                          (None, "rebooting", "reboot_pending", "reboot_started"))
        else:
            guard = Guard("reboot", (states.ACTIVE,))
        return self._act(ctx, server_id, "os_compute_api:servers:reboot", guard, lambda _i: {
            "reboot_count": Instance.reboot_count + 1, "reboot_hard": hard, "desired_power": "running",
            "task_state": "rebooting_hard" if hard else "rebooting", "vm_state": states.ACTIVE,
        })

    # -- rebuild, resize ---------------------------------------------------------------

    def rebuild_server(self, ctx: RequestContext, server_id: str, request: RebuildRequest) -> ServerShown:
        guard = Guard("rebuild", (states.ACTIVE, states.STOPPED, states.ERROR))
        with self.cloud.db.session() as session:
            instance = self._authorize(session, ctx, server_id, "os_compute_api:servers:rebuild", guard)
            if not instance.image_ref:
                # Nova before 2.93: a volume-backed server keeps its boot volume's image.
                raise BadRequest("Unable to rebuild with a different image for a volume-backed server.")
            image, _path = self.cloud.image.image_for_server(ctx, request.image_id)
            check_image_fits(image, instance.flavor)
            values: dict[str, Any] = {
                "image_ref": request.image_id, "rebuild_count": Instance.rebuild_count + 1,
                "task_state": "rebuilding", "fault": None,
                "desired_power": "running" if instance.vm_state != states.STOPPED else "stopped",
            }
            if instance.vm_state == states.ERROR:
                values["vm_state"] = states.ACTIVE
            for key in ("name", "description", "user_data", "access_ip_v4", "access_ip_v6"):
                if getattr(request, key) is not UNSET:
                    values[key] = getattr(request, key)
            if request.metadata is not UNSET:
                values["metadata_items"] = dict(request.metadata)
            if request.key_name is None:
                values["key_name"], values["key_data"] = None, None
            elif request.key_name is not UNSET:
                keypair = get_keypair(session, instance.user_id, str(request.key_name))
                values["key_name"], values["key_data"] = keypair.name, keypair.public_key
            host_id = instance.host_id
            self._bump_host(session, host_id)
            self._swap(session, ctx, instance, guard, values)
            shown = load_server(session, instance, self._volumes_of(ctx, [instance.uuid]))
        self._wake(host_id)
        return shown

    def resize_server(self, ctx: RequestContext, server_id: str, flavor_ref: str) -> Instance:
        guard = Guard("resize", (states.ACTIVE, states.STOPPED))
        with self.cloud.db.session() as session:
            instance = self._authorize(session, ctx, server_id, "os_compute_api:servers:resize", guard)
            try:
                flavor = find_flavor(session, flavor_ref, ctx)
            except NotFound as exc:
                # Nova: an unknown flavor in a resize is a bad request, not a missing server.
                raise BadRequest(f"Unable to find flavor: {exc}") from exc
            new, old = flavor_snapshot(flavor), dict(instance.flavor)
            if new["id"] == old.get("id"):
                raise BadRequest("When resizing, instances must change flavor!")
            if new["disk"] < old["disk"]:
                raise BadRequest("Resize error: Unable to resize disk down.")
            check_quota(session, instance.project_id, {"cores": max(0, new["vcpus"] - old["vcpus"]),
                                                       "ram": max(0, new["ram"] - old["ram"])})
            new["image_properties"] = old.get("image_properties", {})
            # The claim's UPDATE takes the host row (and bumps its revision) before the instance's.
            if not scheduler.reclaim(session, instance.uuid, self.demand_for(session, instance, new)):
                host = session.get(Host, instance.host_id) if instance.host_id else None
                where = host.hostname if host else "its host"
                raise ApiError(f"No valid host was found. {flavor.name} needs {new['ram']} MB RAM and "
                               f"{new['vcpus']} vCPU(s), more than {where} has free.", status=400)
            self._swap(session, ctx, instance, guard, {
                "flavor": new, "old_flavor": old, "resize_count": Instance.resize_count + 1,
                "task_state": "resize_migrating"})
            host_id = instance.host_id
        self._wake(host_id)
        return instance

    def confirm_resize(self, ctx: RequestContext, server_id: str) -> Instance:
        guard = Guard("confirmResize", (states.RESIZED,), lock=False)
        return self._act(ctx, server_id, "os_compute_api:servers:confirm_resize", guard, lambda i: {
            "old_flavor": None, "vm_state": states.VM_STATE_FOR_DESIRED[i.desired_power]})

    def revert_resize(self, ctx: RequestContext, server_id: str) -> Instance:
        guard = Guard("revertResize", (states.RESIZED,), lock=False)
        with self.cloud.db.session() as session:
            instance = self._authorize(session, ctx, server_id, "os_compute_api:servers:revert_resize", guard)
            old = instance.old_flavor or instance.flavor
            if not scheduler.reclaim(session, instance.uuid, self.demand_for(session, instance, old)):
                raise Conflict("The old flavor no longer fits on the host; confirm the resize instead.")
            self._swap(session, ctx, instance, guard, {
                "flavor": old, "old_flavor": None, "resize_count": Instance.resize_count + 1,
                "task_state": "resize_reverting"})
            host_id = instance.host_id
        self._wake(host_id)
        return instance

    # -- snapshot ----------------------------------------------------------------------

    def create_image(self, ctx: RequestContext, server_id: str, name: str,
                     metadata: dict[str, str]) -> dict[str, Any]:
        """Nova's createImage: a queued image now, its data when the host has taken the snapshot.

        The image record and the instance's snapshot request commit together or not at all.
        """
        reserved = sorted(set(metadata) & BASE_KEYS)
        if reserved:
            raise BadRequest(f"Invalid input for field/attribute metadata: {', '.join(reserved)} is an image "
                             "attribute, not metadata.")
        guard = Guard("createImage", (states.ACTIVE, states.STOPPED, states.PAUSED, states.SUSPENDED), lock=False)
        with self.cloud.db.session() as session:
            instance = self._authorize(session, ctx, server_id, "os_compute_api:servers:create_image", guard)
            if not instance.image_ref:
                raise BadRequest("Snapshots of servers booted from a volume are not supported yet: snapshot the "
                                 "volume (openstack volume snapshot create) instead.")
            # The caller's metadata goes over what the snapshot says of itself, as in Nova (image_type too).
            properties = {"image_type": "snapshot", "instance_uuid": instance.uuid,
                          "base_image_ref": instance.image_ref, "owner_user_name": ctx.user_name,
                          "owner_project_name": ctx.project_name or "", **metadata}
            host_id = instance.host_id
            self._bump_host(session, host_id)
            image = self.cloud.image.create_image(ctx, {
                "name": name, "disk_format": "qcow2", "container_format": "bare", "visibility": "private",
                "min_disk": instance.flavor.get("disk", 0), "min_ram": self._base_min_ram(ctx, instance),
                **properties})
            requests = [*(instance.snapshot_requests or []), {"image_id": image["id"], "name": name}]
            self._swap(session, ctx, instance, guard, {"snapshot_requests": requests,
                                                       "task_state": "image_snapshot"})
        self._wake(host_id)
        return image

    def _base_min_ram(self, ctx: RequestContext, instance: Instance) -> int:
        """A snapshot needs the RAM its base image needed, as Nova carries min_ram over."""
        if not instance.image_ref:
            return 0
        try:
            return int(self.cloud.image.get_image(ctx, instance.image_ref).get("min_ram") or 0)
        except ApiError:
            return 0  # the base image is gone or hidden from the caller: nothing to carry over

    # -- console, lock, admin ----------------------------------------------------------

    def console_output(self, ctx: RequestContext, server_id: str, lines: int | None) -> str:
        """The console's last `lines` lines (None: all of it)."""
        with self.cloud.db.read() as session:
            instance = self._authorize(session, ctx, server_id, "os_compute_api:os-console-output")
            if instance.vm_state == states.BUILDING and not instance.host_id:
                raise Conflict(f"Instance {instance.uuid} has no console yet: it is not on a host.")
        text = self.console_tail(server_id)  # type: ignore[attr-defined]
        if lines is None:
            return text
        return "\n".join(text.splitlines()[-lines:]) if lines > 0 else ""

    def lock_server(self, ctx: RequestContext, server_id: str, reason: str | None = None) -> Instance:
        return self._act(ctx, server_id, "os_compute_api:os-lock-server:lock", Guard("lock", task_states=ANY, lock=False),
                         lambda _i: {"locked": True, "locked_reason": reason})

    def unlock_server(self, ctx: RequestContext, server_id: str) -> Instance:
        return self._act(ctx, server_id, "os_compute_api:os-lock-server:unlock",
                         Guard("unlock", task_states=ANY, lock=False),
                         lambda _i: {"locked": False, "locked_reason": None})

    def reset_state(self, ctx: RequestContext, server_id: str, state: str) -> Instance:
        def values(_instance: Instance) -> dict[str, Any]:
            if state not in (states.ACTIVE, states.ERROR):
                raise BadRequest("Invalid input for field/attribute state: must be 'active' or 'error'.")
            return {"vm_state": state, "task_state": None}

        return self._act(ctx, server_id, "os_compute_api:os-admin-actions:reset_state",
                         Guard("resetState", task_states=ANY, lock=False), values)

    def restore_server(self, ctx: RequestContext, server_id: str) -> None:
        """Deletes are immediate (no reclaim_instance_interval): no server is ever SOFT_DELETED to restore."""
        with self.cloud.db.read() as session:
            instance = self._authorize(session, ctx, server_id, "os_compute_api:os-deferred-delete:restore")
            raise state_conflict("restore", instance.uuid, "vm_state", instance.vm_state)

    # -- delete ------------------------------------------------------------------------

    def delete_server(self, ctx: RequestContext, server_id: str, force: bool = False) -> None:
        """Nova's delete (any state; a locked server only by an admin) and forceDelete."""
        guard = Guard("forceDelete" if force else "delete", task_states=ANY, lock=not force)
        with self.cloud.db.session() as session:
            instance = self._authorize(session, ctx, server_id, "os_compute_api:servers:delete", guard)
            host_id = instance.host_id
            host = session.get(Host, host_id) if host_id is not None else None
            # Nova's local delete: a host that is down cannot confirm, so the claim goes now; its
            # agent removes the guest when it comes back (the guest is no longer desired).
            local = host is None or not is_up(host)
            if not local:
                self._bump_host(session, host_id)
            now = utcnow()
            self._swap(session, ctx, instance, guard, {
                "deleted": True, "deleted_at": now, "vm_state": states.DELETED, "terminated_at": now,
                # The claim stays until the agent confirms the guest and its disk are gone.
                "task_state": None if local else "deleting"})
            # Addresses go back at once (Neutron unbinds when Nova deletes); the guest's
            # tap goes with it on the host's next pass.
            self.cloud.network.release_ports_for_server(session, instance.uuid)
            # Its volumes are let go in this transaction, and its delete_on_termination ones
            # deleted (their host removes each once the guest is gone).
            self.cloud.volume.release_server(ctx, instance.uuid)
            if local:
                scheduler.release(session, instance.uuid)
        self._wake(host_id)

    # -- security groups on a server's ports -------------------------------------------

    def change_security_group(self, ctx: RequestContext, server_id: str, ref: str, adding: bool) -> None:
        """Add a group to every port of the server, or take it off every port that has it (Nova on neutron).

        One transaction: a port that cannot take the group leaves all of them as they were.
        The agents see the port changes by themselves and rewrite the server's firewall.
        """
        network = self.cloud.network
        with self.cloud.db.session() as session:
            instance = self._load(session, ctx, server_id)
            self.cloud.policy.enforce(ctx, f"os_compute_api:os-security-groups:{'add' if adding else 'remove'}",
                                      {"project_id": instance.project_id})
            try:
                group = network.find_security_group(session, ctx, ref)
            except NotFound as exc:
                raise NotFound(f"Security group {ref} is not found for project {ctx.project_id}") from exc
            except Conflict as exc:
                raise Conflict(exc.message) from exc
            ports = addresses.server_ports(session, instance)
            if not ports:
                raise NotFound(f"instance_id {instance.uuid} could not be found as device id on any ports")
            if adding:
                for port in ports:
                    if not port.port_security_enabled or not network.has_addresses(session, port):
                        raise BadRequest("Network requires port_security_enabled and subnet associated in order "
                                         "to apply security groups.")
                changes = {p.id: [*p.security_groups, group.id] for p in ports if group.id not in p.security_groups}
            else:
                changes = {p.id: [g for g in p.security_groups if g != group.id] for p in ports
                           if group.id in p.security_groups}
                if not changes:
                    raise NotFound(f"Security group {ref} not associated with the instance {instance.uuid}")
            for port_id, groups in changes.items():
                network.update_port(session, ctx, port_id, {"security_groups": groups})

    def add_security_group(self, ctx: RequestContext, server_id: str, ref: str) -> None:
        self.change_security_group(ctx, server_id, ref, adding=True)

    def remove_security_group(self, ctx: RequestContext, server_id: str, ref: str) -> None:
        self.change_security_group(ctx, server_id, ref, adding=False)

