"""Volume transfers: offer a volume with a secret key; whoever has the key takes it over."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest, NotFound
from gureum.volume import quotas
from gureum.volume.common import as_bool, get_visible, optional_str, require_object, scoped
from gureum.volume.listing import paginate
from gureum.volume.models import Snapshot, Volume, VolumeTransfer

if TYPE_CHECKING:
    from gureum.cloud import Cloud

SORT_KEYS = {"id": VolumeTransfer.id, "name": VolumeTransfer.name, "created_at": VolumeTransfer.created_at,
             "volume_id": VolumeTransfer.volume_id}


def _hash(salt: str, key: str) -> str:
    return hashlib.sha256((salt + key).encode()).hexdigest()


class TransfersMixin:
    cloud: "Cloud"

    def _transfer(self, session: Session, ctx: RequestContext, transfer_id: str, action: str) -> VolumeTransfer:
        transfer = get_visible(session, VolumeTransfer, ctx, transfer_id, "Transfer")
        self.cloud.policy.enforce(ctx, action, {"project_id": transfer.project_id})
        return transfer

    def create_transfer(self, ctx: RequestContext, body: Any, *, allow_no_snapshots: bool) -> tuple[VolumeTransfer, str]:
        data = require_object(body, "transfer")
        volume_id = data.get("volume_id")
        if not isinstance(volume_id, str) or not volume_id:
            raise BadRequest("Invalid input for field/attribute volume_id: it is required.")
        name = optional_str(data, "name")
        no_snapshots = as_bool(data["no_snapshots"], "no_snapshots") if allow_no_snapshots and \
            data.get("no_snapshots") is not None else False
        with self.cloud.db.session() as session:
            volume = self._volume(session, ctx, volume_id, "volume:create_transfer")
            if volume.status != "available":
                raise BadRequest(f"Invalid volume: status must be available to transfer (it is {volume.status}).")
            if session.execute(select(VolumeTransfer.id).where(VolumeTransfer.volume_id == volume.id)).first():
                raise BadRequest(f"Invalid volume: Volume {volume.id} already has a transfer.")
            key = secrets.token_hex(8)
            salt = secrets.token_hex(8)
            transfer = VolumeTransfer(volume_id=volume.id, project_id=volume.project_id, name=name, salt=salt,
                                      crypt_hash=_hash(salt, key), no_snapshots=no_snapshots)
            session.add(transfer)
            volume.awaiting_transfer = True
            self._refresh(session, volume)
            return transfer, key

    def list_transfers(self, ctx: RequestContext, params: dict[str, str]) -> tuple[list[VolumeTransfer], str | None]:
        self.cloud.policy.enforce(ctx, "volume:get_all_transfers", {"project_id": ctx.project_id})
        all_tenants = params.get("all_tenants", "").lower() in ("1", "true", "yes")
        with self.cloud.db.read() as session:
            stmt = scoped(select(VolumeTransfer), VolumeTransfer, ctx, all_tenants)
            if params.get("name"):
                stmt = stmt.where(VolumeTransfer.name == params["name"])
            if params.get("volume_id"):
                stmt = stmt.where(VolumeTransfer.volume_id == params["volume_id"])
            page = paginate(session, stmt, VolumeTransfer, params, SORT_KEYS)
            return page.rows, page.next_marker

    def get_transfer(self, ctx: RequestContext, transfer_id: str) -> VolumeTransfer:
        with self.cloud.db.read() as session:
            return self._transfer(session, ctx, transfer_id, "volume:get_transfer")

    def delete_transfer(self, ctx: RequestContext, transfer_id: str) -> None:
        with self.cloud.db.session() as session:
            transfer = self._transfer(session, ctx, transfer_id, "volume:delete_transfer")
            volume = session.get(Volume, transfer.volume_id)
            session.delete(transfer)
            if volume is not None:
                volume.awaiting_transfer = False
                self._refresh(session, volume)

    def accept_transfer(self, ctx: RequestContext, transfer_id: str, body: Any) -> VolumeTransfer:
        data = require_object(body, "accept")
        key = data.get("auth_key")
        if not isinstance(key, str) or not key:
            raise BadRequest("Invalid input for field/attribute auth_key: it is required.")
        self.cloud.policy.enforce(ctx, "volume:accept_transfer", {"project_id": ctx.project_id})
        with self.cloud.db.session() as session:
            # The receiver cannot see the offer in lists; the id and the key are what it was given.
            transfer = session.get(VolumeTransfer, transfer_id) if len(transfer_id) <= 64 else None
            if transfer is None:
                raise NotFound(f"Transfer {transfer_id} could not be found.")
            if not hmac.compare_digest(transfer.crypt_hash, _hash(transfer.salt, key)):
                raise BadRequest(f"Invalid auth key: Attempt to transfer {transfer.id} with invalid auth key.")
            volume = session.get(Volume, transfer.volume_id)
            assert volume is not None
            receiver = ctx.project_id or ""
            snapshots = [] if transfer.no_snapshots else list(
                session.execute(select(Snapshot).where(Snapshot.volume_id == volume.id)).scalars())
            quotas.check(session, receiver, volumes=1, snapshots=len(snapshots),
                         gigabytes=volume.size + sum(s.size for s in snapshots), size=volume.size)
            accepted = VolumeTransfer(id=transfer.id, volume_id=volume.id, project_id=transfer.project_id,
                                      name=transfer.name, salt="", crypt_hash="", no_snapshots=transfer.no_snapshots)
            session.delete(transfer)
            volume.project_id, volume.user_id = receiver, ctx.user_id
            volume.awaiting_transfer = False
            if snapshots:
                session.execute(update(Snapshot).where(Snapshot.volume_id == volume.id)
                                .values(project_id=receiver, user_id=ctx.user_id))
            self._refresh(session, volume)
            return accepted
