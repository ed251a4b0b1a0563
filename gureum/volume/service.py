"""The block storage service (Cinder v3): one object whose public methods are the only way in.

Each concern lives in its own module as a mixin (volumes, actions, snapshots, types,
attachments, transfers, placement); this class joins them and adds what is small:
quotas, limits, availability zones, services.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gureum.db.base import utcnow
from gureum.db.revision import RevisionWatch
from gureum.volume.revision import watch_volume_changes
from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest, NotFound
from gureum.volume import quotas
from gureum.volume.actions import ActionsMixin
from gureum.volume.attachments import AttachmentsMixin, ServerAttachmentsMixin
from gureum.volume.hostshare import HostShareMixin
from gureum.volume.placement import PlacementMixin
from gureum.volume.snapshots import SnapshotsMixin
from gureum.volume.transfers import TransfersMixin
from gureum.volume.types import TypesMixin, seed_default_type
from gureum.volume.volumes import VolumesMixin
from gureum.volume.models import VolumeHost

if TYPE_CHECKING:
    from gureum.cloud import Cloud

DEFAULT_ZONE = "nova"
# A storage host that has not reported for this long is down.
HOST_DOWN_AFTER = timedelta(seconds=60)


class VolumeService(VolumesMixin, ActionsMixin, SnapshotsMixin, TypesMixin, AttachmentsMixin, TransfersMixin,
                    PlacementMixin, HostShareMixin, ServerAttachmentsMixin):
    def __init__(self, cloud: "Cloud") -> None:
        self.cloud = cloud
        # Any change a host must act on bumps this, and wakes every agent's long poll.
        self.revision = RevisionWatch(cloud.db, "volume")
        watch_volume_changes(cloud.db.write_factory, self.revision, self._wake_agents)

    def _wake_agents(self) -> None:
        compute = getattr(self.cloud, "compute", None)
        if compute is not None:
            compute.signals.notify_all()

    def start(self) -> None:
        from gureum.volume.policies import VOLUME_POLICIES  # noqa: PLC0415

        self.cloud.policy.register_defaults(VOLUME_POLICIES)
        self.revision.ensure_row()
        with self.cloud.db.session() as session:
            seed_default_type(session)

    # -- zones -------------------------------------------------------------------------

    def _zones(self, session: Session) -> set[str]:
        zones = {DEFAULT_ZONE}
        zones.update(session.execute(select(VolumeHost.availability_zone).distinct()).scalars())
        return zones

    def _resolve_zone(self, session: Session, zone: Any) -> str:
        if zone is None or zone == "":
            return DEFAULT_ZONE
        if not isinstance(zone, str) or zone not in self._zones(session):
            raise BadRequest(f"Invalid input received: Availability zone '{zone}' is invalid.")
        return zone

    def availability_zones(self, ctx: RequestContext) -> list[str]:
        self.cloud.policy.enforce(ctx, "volume_extension:availability_zone_list", {"project_id": ctx.project_id})
        with self.cloud.db.read() as session:
            return sorted(self._zones(session))

    # -- quotas and limits -------------------------------------------------------------

    def get_quotas(self, ctx: RequestContext, project_id: str, *, usage: bool) -> dict[str, Any]:
        self.cloud.policy.enforce(ctx, "volume_extension:quotas:show", {"project_id": project_id})
        with self.cloud.db.read() as session:
            return quotas.quota_set(session, project_id, usage=usage)

    def default_quotas(self, ctx: RequestContext, project_id: str) -> dict[str, Any]:
        self.cloud.policy.enforce(ctx, "volume_extension:quotas:defaults", {"project_id": project_id})
        with self.cloud.db.read() as session:
            return quotas.default_set(session, project_id)

    def get_quota_class(self, ctx: RequestContext, class_name: str) -> dict[str, Any]:
        self.cloud.policy.enforce(ctx, "volume_extension:quota_classes", {"project_id": ctx.project_id})
        self._only_default_class(class_name)
        with self.cloud.db.read() as session:
            return {**quotas.default_set(session, class_name), "id": class_name}

    def update_quota_class(self, ctx: RequestContext, class_name: str, body: Any) -> dict[str, Any]:
        self.cloud.policy.enforce(ctx, "volume_extension:quota_classes", {"project_id": ctx.project_id})
        self._only_default_class(class_name)
        if not isinstance(body, dict) or not isinstance(body.get("quota_class_set"), dict):
            raise BadRequest("Missing required element 'quota_class_set' in request body.")
        with self.cloud.db.session() as session:
            quotas.update(session, quotas.CLASS_DEFAULT, body["quota_class_set"])
            session.flush()
            result = quotas.default_set(session, class_name)
            result.pop("id", None)
            return result

    @staticmethod
    def _only_default_class(class_name: str) -> None:
        if class_name != "default":
            raise NotFound(f"Quota class {class_name} could not be found: gureum has the default class only.")

    def update_quotas(self, ctx: RequestContext, project_id: str, body: Any) -> dict[str, Any]:
        self.cloud.policy.enforce(ctx, "volume_extension:quotas:update", {"project_id": project_id})
        if not isinstance(body, dict) or not isinstance(body.get("quota_set"), dict):
            raise BadRequest("Missing required element 'quota_set' in request body.")
        with self.cloud.db.session() as session:
            quotas.update(session, project_id, body["quota_set"])
            session.flush()
            result = quotas.quota_set(session, project_id, usage=False)
            result.pop("id", None)
            return result

    def delete_quotas(self, ctx: RequestContext, project_id: str) -> None:
        self.cloud.policy.enforce(ctx, "volume_extension:quotas:delete", {"project_id": project_id})
        with self.cloud.db.session() as session:
            quotas.reset(session, project_id)

    def absolute_limits(self, ctx: RequestContext) -> dict[str, int]:
        self.cloud.policy.enforce(ctx, "limits_extension:used_limits", {"project_id": ctx.project_id})
        with self.cloud.db.read() as session:
            return quotas.absolute_limits(session, ctx.project_id or "")

    # -- services (os-services) --------------------------------------------------------

    def list_services(self, ctx: RequestContext, params: dict[str, str]) -> list[tuple[str, Any]]:
        """[("scheduler", hostname) or ("volume", (VolumeHost, up))], filtered by host and binary."""
        self.cloud.policy.enforce(ctx, "volume_extension:services:index", {"project_id": ctx.project_id})
        import socket  # noqa: PLC0415

        controller = socket.gethostname()
        services: list[tuple[str, Any]] = []
        binary, host = params.get("binary"), params.get("host")
        if binary in (None, "", "cinder-scheduler") and host in (None, "", controller):
            services.append(("scheduler", controller))
        if binary in (None, "", "cinder-volume"):
            with self.cloud.db.read() as session:
                now = utcnow()
                for row in session.execute(select(VolumeHost).order_by(VolumeHost.hostname, VolumeHost.backend)).scalars():
                    if host not in (None, "", row.hostname, f"{row.hostname}@{row.backend}"):
                        continue
                    up = row.last_seen_at is not None and now - row.last_seen_at < HOST_DOWN_AFTER
                    services.append(("volume", (row, up)))
        return services

    def change_service(self, ctx: RequestContext, action: str, body: Any) -> dict[str, Any]:
        """PUT os-services/{enable,disable,disable-log-reason,freeze,thaw} on a storage backend."""
        self.cloud.policy.enforce(ctx, "volume_extension:services:update", {"project_id": ctx.project_id})
        data = body if isinstance(body, dict) else {}
        host = data.get("host")
        if action in ("freeze", "thaw"):
            with self.cloud.db.read() as session:
                if not isinstance(host, str) or not self._backends_of(session, host):
                    raise BadRequest(f"Invalid input received: no volume backend on host {host!r} to {action}.")
            raise BadRequest(f"Invalid input received: {action} needs replication, which no backend here has.")
        if action not in ("enable", "disable", "disable-log-reason"):
            raise NotFound(f"Unknown action {action}.")
        binary = data.get("binary", "cinder-volume")
        if not isinstance(host, str) or not host:
            raise BadRequest("Missing required element 'host' in request body.")
        reason = data.get("disabled_reason")
        if action == "disable-log-reason" and (not isinstance(reason, str) or not reason.strip()
                                               or len(reason) > 255):
            raise BadRequest("Disabled reason contains invalid characters or is too long.")
        with self.cloud.db.session() as session:
            rows = self._backends_of(session, host) if binary == "cinder-volume" else []
            if not rows:
                raise NotFound(f"Service {binary} on host {host} could not be found.")
            for row in rows:
                row.disabled = action != "enable"
                row.disabled_reason = reason if action == "disable-log-reason" else None
            return {"host": host, "service": binary, "binary": binary, "disabled": action != "enable",
                    "status": "enabled" if action == "enable" else "disabled",
                    "disabled_reason": rows[0].disabled_reason}

    @staticmethod
    def _backends_of(session: Session, host: str) -> list[VolumeHost]:
        hostname, _, backend = host.partition("@")
        stmt = select(VolumeHost).where(VolumeHost.hostname == hostname)
        if backend:
            stmt = stmt.where(VolumeHost.backend == backend.split("#", 1)[0])
        return list(session.execute(stmt).scalars())
