"""The image service: glance's rules for image records, members, tags and their data.

No HTTP in here: methods take a RequestContext and plain values, return views or
raise ApiError. Image data moves in three steps so nothing is half-done:
`begin_*` claims the image (status saving/uploading, our holder token), the bytes
go to a temp file (gureum.image.transfers or the import thread), and `finish_*`
checks the format and commits, or `abort_transfer` puts the image back in 'queued'.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gureum.db.base import utcnow
from gureum.http.context import RequestContext
from gureum.http.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    PayloadTooLarge,
)
from gureum.image import quota
from gureum.image.formats import ImageFormatError, check_upload
from gureum.image.holders import holder_alive, process_token
from gureum.image.listing import build_query, parse_list_request, visible_condition
from gureum.image.metadefs import MetadefService
from gureum.image.models import Image, ImageMember, ImageProperty, ImageTag
from gureum.image.patching import Change, check_writable
from gureum.image.policies import BASE_RULES, DEFAULT_RULES
from gureum.image.schemas import MEMBER_STATUSES, validate_image_fields
from gureum.image.store import (
    IO_CHUNK_BYTES,
    ImageStore,
    StoreError,
    TransferTooLarge,
    WrittenBlob,
    copy_into,
)
from gureum.image.views import IMPORT_METHODS, image_view, member_view, members_view

if TYPE_CHECKING:
    from gureum.cloud import Cloud

log = logging.getLogger(__name__)

HASH_ALGO = "sha512"
MAX_PROPERTIES = 128
MAX_TAGS = 128
MAX_MEMBERS = 128
# Attributes that are columns; everything else a client sends is a free-form property.
CORE_FIELDS = (
    "id",
    "name",
    "visibility",
    "protected",
    "os_hidden",
    "owner",
    "container_format",
    "disk_format",
    "min_ram",
    "min_disk",
    "tags",
)
FORMAT_FIELDS = ("disk_format", "container_format")
TRANSFER_STATUSES = ("saving", "uploading", "importing")
# Glance's state machine: where an image may go from where it is.
STATUS_TARGETS = {
    "queued": ("saving", "uploading", "importing", "active", "deleted"),
    "saving": ("active", "killed", "deleted", "queued"),
    "uploading": ("importing", "queued", "deleted"),
    "importing": ("active", "deleted", "queued"),
    "active": ("pending_delete", "deleted", "deactivated"),
    "killed": ("deleted",),
    "pending_delete": ("deleted", "active"),
    "deleted": (),
    "deactivated": ("active", "deleted"),
}
IMPORT_TASK_PROPERTY = "os_glance_import_task"
FAILED_IMPORT_PROPERTY = "os_glance_failed_import"
IMPORT_ERROR_PROPERTY = "os_glance_import_error"
STORE_ID = "file"
# A data file nobody references for this long is an orphan (left by a crash mid-commit).
ORPHAN_GRACE_SECONDS = 3600
# Glance answers 415 here; gureum's issue asks for 400 (see the image notes).
FORMAT_REFUSAL_STATUS = 400


class ImageDataRefused(BadRequest):
    status = FORMAT_REFUSAL_STATUS


@dataclass(frozen=True)
class Transfer:
    """A claim on an image while its bytes arrive."""

    image_id: str
    owner: str | None
    kind: str  # "upload" or "stage"
    disk_format: str | None
    container_format: str | None
    max_bytes: int | None
    quota_resource: str


@dataclass(frozen=True)
class Download:
    key: str
    size: int
    checksum: str | None


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36


def image_not_found(image_id: str) -> NotFound:
    return NotFound(f"No image found with ID {image_id}")


def _transition_error(image: Image, to_status: str) -> Conflict:
    return Conflict(f"Image status transition from {image.status} to {to_status} is not allowed")


def _require_formats(image: Image) -> None:
    missing = [name for name in FORMAT_FIELDS if not getattr(image, name)]
    if len(missing) == 1:
        raise BadRequest(f"Property {missing[0]} must be set prior to saving data.")
    if missing:
        raise BadRequest(f"Properties {', '.join(missing)} must be set prior to saving data.")


def _set_property(image: Image, name: str, value: str) -> None:
    for prop in image.properties:
        if prop.name == name:
            prop.value = value
            return
    image.properties.append(ImageProperty(name=name, value=value))


def _drop_property(image: Image, name: str) -> bool:
    for prop in list(image.properties):
        if prop.name == name:
            image.properties.remove(prop)
            return True
    return False


def _property(image: Image, name: str) -> str | None:
    return next((p.value for p in image.properties if p.name == name), None)


def _set_tags(image: Image, tags: list[str]) -> None:
    wanted = list(dict.fromkeys(tags))
    if len(wanted) > MAX_TAGS:
        raise PayloadTooLarge(f"Image tag limit exceeded for image {image.id}: Attempted: {len(wanted)}, Maximum: {MAX_TAGS}")
    image.tags = [tag for tag in image.tags if tag.value in wanted]
    have = {tag.value for tag in image.tags}
    image.tags.extend(ImageTag(value=tag) for tag in wanted if tag not in have)


class ImageService:
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self.store = ImageStore(cloud.settings.effective_image_store_dir)
        self.holder = process_token()
        # Commit/delete of content-addressed files must not interleave with a reference count.
        self._data_lock = threading.Lock()
        self._import_pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self.metadefs = MetadefService(cloud)

    # -- life cycle ----------------------------------------------------------------

    def start(self) -> None:
        policy = self.cloud.policy
        policy.register_defaults({k: v for k, v in BASE_RULES.items() if k not in policy.defaults})
        policy.register_defaults(DEFAULT_RULES)
        # Glance's quota defaults as registered limits: `openstack limit create` works at once.
        self.cloud.identity.register_default_limits(quota.SERVICE_TYPE, dict(quota.DEFAULT_LIMITS))
        self.store.ensure_dirs()
        self.recover_abandoned_transfers()
        self.metadefs.start()

    def stop(self) -> None:
        if self._import_pool is not None:
            self._import_pool.shutdown(wait=True)

    def recover_abandoned_transfers(self) -> None:
        """After a crash: transfers whose process is gone go back to 'queued', their bytes away."""
        abandoned: list[str] = []
        with self.cloud.db.session() as s:
            rows = s.scalars(select(Image).where(Image.status.in_(TRANSFER_STATUSES))).all()
            for image in rows:
                if image.transfer_holder is not None and holder_alive(image.transfer_holder):
                    continue
                staged = image.transfer_holder is None and image.status == "uploading"
                if staged and self.store.staged_path(image.id).exists():
                    continue  # staged and waiting for its import call
                if image.status == "importing":
                    _set_property(image, FAILED_IMPORT_PROPERTY, STORE_ID)
                    _set_property(image, IMPORT_ERROR_PROPERTY, "the controller stopped during the import")
                _drop_property(image, IMPORT_TASK_PROPERTY)
                self._back_to_queued(image)
                abandoned.append(image.id)
        for image_id in abandoned:
            self.store.unstage(image_id)
            log.warning("image %s: transfer abandoned by a stopped controller, back to queued", image_id)
        removed = self.store.sweep_temp(holder_alive)
        if removed:
            log.info("image store: removed %d stale temp file(s)", removed)
        self._sweep_orphans()

    def _sweep_orphans(self) -> None:
        with self._data_lock, self.cloud.db.session() as s:
            for key in list(self.store.stored_keys(ORPHAN_GRACE_SECONDS)):
                if s.scalar(select(Image.id).where(Image.data_key == key).limit(1)) is None:
                    self.store.delete_data(key)
                    log.info("image store: removed unreferenced data %s...", key[:16])
            staged_wanted = set(
                s.scalars(select(Image.id).where(Image.status.in_(("uploading", "importing")))).all()
            )
        for image_id in self.store.staged_ids():
            if image_id not in staged_wanted:
                self.store.unstage(image_id)

    @staticmethod
    def _back_to_queued(image: Image) -> None:
        image.status = "queued"
        image.size = None
        image.virtual_size = None
        image.staged_size = None
        image.transfer_holder = None
        image.updated_at = utcnow()

    # -- lookups -------------------------------------------------------------------

    def _visible(self, session: Session, ctx: RequestContext, image_id: str) -> Image:
        if not is_uuid(image_id):
            raise image_not_found(image_id)
        image = session.scalar(select(Image).where(Image.id == image_id, visible_condition(ctx)))
        if image is None:
            raise image_not_found(image_id)
        return image

    @staticmethod
    def _target(ctx: RequestContext, image: Image) -> dict[str, Any]:
        is_member = ctx.project_id is not None and any(m.member_id == ctx.project_id for m in image.members)
        return {
            "project_id": image.owner,
            "owner": image.owner,
            "visibility": image.visibility,
            "image_id": image.id,
            "member_id": ctx.project_id if is_member else None,
        }

    def _enforce(self, ctx: RequestContext, action: str, image: Image) -> None:
        self.cloud.policy.enforce(ctx, action, self._target(ctx, image))

    def _enforce_visibility(self, ctx: RequestContext, visibility: Any, target: dict[str, Any]) -> None:
        if visibility == "public":
            self.cloud.policy.enforce(ctx, "publicize_image", target)
        elif visibility == "community":
            self.cloud.policy.enforce(ctx, "communitize_image", target)

    # -- images ----------------------------------------------------------------------

    def get_image(self, ctx: RequestContext, image_id: str) -> dict[str, Any]:
        with self.cloud.db.session() as s:
            image = self._visible(s, ctx, image_id)
            self._enforce(ctx, "get_image", image)
            return image_view(image)

    def list_images(self, ctx: RequestContext, params: list[tuple[str, str]]) -> tuple[list[dict[str, Any]], str | None]:
        req = parse_list_request(params)
        self.cloud.policy.enforce(ctx, "get_images", {"project_id": ctx.project_id})
        with self.cloud.db.session() as s:
            marker = None
            if req.marker is not None:
                if is_uuid(req.marker):
                    marker = s.scalar(select(Image).where(Image.id == req.marker, visible_condition(ctx)))
                if marker is None:
                    raise BadRequest(f"No image found with ID {req.marker}")
            rows = s.scalars(build_query(ctx, req, marker)).all()
            # A full page means there may be more: glance links the next page then.
            next_marker = rows[-1].id if rows and len(rows) == req.limit else None
            return [image_view(image) for image in rows], next_marker

    def create_image(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        if body is None:
            raise BadRequest("Body expected in request.")
        if not isinstance(body, dict):
            raise BadRequest("Provided object does not match schema 'image': the body must be a JSON object")
        for name in body:
            if name != "id":  # a client may choose the id of a new image, never change it
                check_writable(name)
            if len(name) > 255:
                raise BadRequest("Custom property should not be greater than 255 characters.")
        validate_image_fields(body)
        core = {k: body[k] for k in CORE_FIELDS if k in body}
        extra = {k: v for k, v in body.items() if k not in CORE_FIELDS}
        if len(extra) > MAX_PROPERTIES:
            raise PayloadTooLarge(
                "The limit has been exceeded on the number of allowed image properties. "
                f"Attempted: {len(extra)}, Maximum: {MAX_PROPERTIES}"
            )
        for name in ("min_ram", "min_disk"):
            if core.get(name, 0) < 0:
                raise BadRequest(f"Invalid value '{core[name]}' for parameter '{name}': Cannot be a negative value")
        owner = core.get("owner", ctx.project_id)
        visibility = core.get("visibility", "shared")
        target = {"project_id": owner, "owner": owner, "visibility": visibility}
        self.cloud.policy.enforce(ctx, "add_image", target)
        self._enforce_visibility(ctx, visibility, target)
        with self.cloud.db.session() as s:
            image_id = core.get("id") or str(uuid.uuid4())
            if s.get(Image, image_id) is not None:
                raise Conflict(f"Image with identifier {image_id} already exists!")
            quota.enforce(self.cloud, s, owner, {quota.IMAGE_COUNT_TOTAL: 1})
            now = utcnow()
            image = Image(
                id=image_id,
                name=core.get("name"),
                status="queued",
                visibility=visibility,
                owner=owner,
                disk_format=core.get("disk_format"),
                container_format=core.get("container_format"),
                min_ram=core.get("min_ram", 0),
                min_disk=core.get("min_disk", 0),
                protected=core.get("protected", False),
                os_hidden=core.get("os_hidden", False),
                created_at=now,
                updated_at=now,
            )
            image.properties = [ImageProperty(name=k, value=v) for k, v in extra.items()]
            _set_tags(image, core.get("tags", []))
            s.add(image)
            s.flush()
            return image_view(image)

    def update_image(self, ctx: RequestContext, image_id: str, changes: list[Change]) -> dict[str, Any]:
        with self.cloud.db.session() as s:
            image = self._visible(s, ctx, image_id)
            self._enforce(ctx, "modify_image", image)
            for change in changes:
                self._apply(ctx, image, change)
            extra_count = len(image.properties)
            if extra_count > MAX_PROPERTIES:
                raise PayloadTooLarge(
                    "The limit has been exceeded on the number of allowed image properties. "
                    f"Attempted: {extra_count}, Maximum: {MAX_PROPERTIES}"
                )
            if changes:
                image.updated_at = utcnow()
            s.flush()
            return image_view(image)

    def _apply(self, ctx: RequestContext, image: Image, change: Change) -> None:
        name = change.name
        if change.op == "remove":
            if name in CORE_FIELDS:
                raise Forbidden(f"Property {name} may not be removed.")
            if not _drop_property(image, name):
                raise Conflict(f"Property {name} does not exist.")
            return
        value = change.value
        if name in CORE_FIELDS:
            if change.op == "add" and change.draft == 4:
                raise Conflict(f"Property {name} already present.")
            self._set_core(ctx, image, name, value)
            return
        exists_now = _property(image, name) is not None
        if change.op == "replace" and not exists_now:
            raise Conflict(f"Property {name} does not exist.")
        if change.op == "add" and exists_now and change.draft == 4:
            raise Conflict(f"Property {name} already present.")
        if len(name) > 255:
            raise BadRequest("Custom property should not be greater than 255 characters.")
        _set_property(image, name, value)

    def _set_core(self, ctx: RequestContext, image: Image, name: str, value: Any) -> None:
        if name == "owner" and not ctx.is_admin:
            raise Forbidden("Owner can't be updated by non admin.")
        if name == "id":
            raise Forbidden("Attribute 'id' is read-only.")
        if name in FORMAT_FIELDS and image.status not in ("queued", "importing") and value != getattr(image, name):
            raise Forbidden(f"Attribute {name} can be only replaced for a queued image.")
        if name in ("min_ram", "min_disk") and value is not None and value < 0:
            raise BadRequest(f"Invalid value '{value}' for parameter '{name}': Cannot be a negative value")
        if name == "visibility" and value != image.visibility:
            self._enforce_visibility(ctx, value, self._target(ctx, image))
        if name == "tags":
            _set_tags(image, value)
            return
        setattr(image, name, value)

    def delete_image(self, ctx: RequestContext, image_id: str) -> None:
        with self.cloud.db.session() as s:
            image = self._visible(s, ctx, image_id)
            self._enforce(ctx, "delete_image", image)
            if image.protected:
                raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
            key = image.data_key
            s.delete(image)
            # Bytes go only once the delete commits: it may be part of a larger unit of work
            # (a failed snapshot dropped inside an agent report) that still rolls back.
            self.cloud.db.after_commit(lambda: self._forget_bytes(image_id, key))

    def _forget_bytes(self, image_id: str, key: str | None) -> None:
        self.store.unstage(image_id)
        if key is not None:
            self._release_data(key)

    def _release_data(self, key: str) -> None:
        """Delete stored bytes once no image refers to them."""
        with self._data_lock, self.cloud.db.session() as s:
            if s.scalar(select(Image.id).where(Image.data_key == key).limit(1)) is None:
                self.store.delete_data(key)

    def deactivate(self, ctx: RequestContext, image_id: str) -> None:
        self._switch_active(ctx, image_id, "deactivate", "active", "deactivated")

    def reactivate(self, ctx: RequestContext, image_id: str) -> None:
        self._switch_active(ctx, image_id, "reactivate", "deactivated", "active")

    def _switch_active(self, ctx: RequestContext, image_id: str, action: str, source: str, target: str) -> None:
        with self.cloud.db.session() as s:
            image = self._visible(s, ctx, image_id)
            self._enforce(ctx, action, image)
            if image.status == target:
                return
            if image.status != source:
                raise Forbidden(f"Not allowed to {action} image in status '{image.status}'")
            image.status = target
            image.updated_at = utcnow()

    # -- tags --------------------------------------------------------------------------

    def add_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        if len(tag) > 255:
            raise BadRequest(f"Could not update image: tag '{tag[:32]}...' is longer than 255 characters")
        with self.cloud.db.session() as s:
            image = self._visible(s, ctx, image_id)
            self._enforce(ctx, "modify_image", image)
            if tag not in (t.value for t in image.tags):
                _set_tags(image, [t.value for t in image.tags] + [tag])
                image.updated_at = utcnow()

    def delete_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        with self.cloud.db.session() as s:
            image = self._visible(s, ctx, image_id)
            self._enforce(ctx, "modify_image", image)
            if tag not in (t.value for t in image.tags):
                raise NotFound(f"Tag {tag} not found.")
            _set_tags(image, [t.value for t in image.tags if t.value != tag])
            image.updated_at = utcnow()

    # -- members -----------------------------------------------------------------------

    def _member_image(self, s: Session, ctx: RequestContext, image_id: str) -> Image:
        try:
            return self._visible(s, ctx, image_id)
        except NotFound:
            raise NotFound(f"Image {image_id} not found.") from None

    @staticmethod
    def _require_shared(image: Image) -> None:
        if image.visibility != "shared":
            raise Forbidden("Only shared images have members.")

    @staticmethod
    def _members_seen_by(ctx: RequestContext, image: Image) -> list[ImageMember]:
        """Owners and admins see every member; a member sees only itself."""
        if ctx.is_admin or (ctx.project_id is not None and ctx.project_id == image.owner):
            return list(image.members)
        return [m for m in image.members if m.member_id == ctx.project_id]

    def list_members(self, ctx: RequestContext, image_id: str) -> dict[str, Any]:
        with self.cloud.db.session() as s:
            image = self._member_image(s, ctx, image_id)
            self._require_shared(image)
            try:
                self._enforce(ctx, "get_members", image)
            except Forbidden:
                raise Forbidden(f"Not allowed to list members for image {image_id}.") from None
            return members_view(self._members_seen_by(ctx, image))

    def get_member(self, ctx: RequestContext, image_id: str, member_id: str) -> dict[str, Any]:
        with self.cloud.db.session() as s:
            image = self._member_image(s, ctx, image_id)
            self._require_shared(image)
            self._enforce(ctx, "get_member", image)
            return member_view(self._find_member(ctx, image, member_id))

    def _find_member(self, ctx: RequestContext, image: Image, member_id: str) -> ImageMember:
        for member in self._members_seen_by(ctx, image):
            if member.member_id == member_id:
                return member
        raise NotFound(f"{member_id} not found in the member list of the image {image.id}.")

    def add_member(self, ctx: RequestContext, image_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest('Expected a member in the form: {"member": "image_id"}')
        if "member" not in body:
            raise BadRequest("Member to be added not specified")
        member_id = body["member"]
        if not member_id:
            raise BadRequest("Member can't be empty")
        if not isinstance(member_id, str) or len(member_id) > 255:
            raise BadRequest('Expected a member in the form: {"member": "image_id"}')
        with self.cloud.db.session() as s:
            image = self._member_image(s, ctx, image_id)
            self._require_shared(image)
            try:
                self._enforce(ctx, "add_member", image)
            except Forbidden:
                raise Forbidden(f"Not allowed to create members for image {image_id}.") from None
            if any(m.member_id == member_id for m in image.members):
                raise Conflict(f"Member {member_id} is duplicated for image {image_id}")
            if len(image.members) >= MAX_MEMBERS:
                raise PayloadTooLarge(
                    f"Image member limit exceeded for image {image_id}: "
                    f"Attempted: {len(image.members) + 1}, Maximum: {MAX_MEMBERS}:"
                )
            now = utcnow()
            member = ImageMember(member_id=member_id, status="pending", created_at=now, updated_at=now)
            image.members.append(member)
            s.flush()
            return member_view(member)

    def update_member(self, ctx: RequestContext, image_id: str, member_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BadRequest('Expected a status in the form: {"status": "status"}')
        if "status" not in body:
            raise BadRequest("Status not specified")
        status = body["status"]
        with self.cloud.db.session() as s:
            image = self._member_image(s, ctx, image_id)
            self._require_shared(image)
            member = self._find_member(ctx, image, member_id)
            target = {**self._target(ctx, image), "member_id": member.member_id}
            try:
                self.cloud.policy.enforce(ctx, "modify_member", target)
            except Forbidden:
                raise Forbidden(f"Not allowed to update members for image {image_id}.") from None
            if status not in MEMBER_STATUSES:
                raise BadRequest('Incorrect request: Status must be "pending", "accepted" or "rejected".')
            member.status = status
            member.updated_at = utcnow()
            s.flush()
            return member_view(member)

    def delete_member(self, ctx: RequestContext, image_id: str, member_id: str) -> None:
        with self.cloud.db.session() as s:
            image = self._member_image(s, ctx, image_id)
            self._require_shared(image)
            member = self._find_member(ctx, image, member_id)
            try:
                self._enforce(ctx, "delete_member", image)
            except Forbidden:
                raise Forbidden(f"Not allowed to delete members for image {image_id}.") from None
            image.members.remove(member)

    # -- data: upload and stage --------------------------------------------------------

    def begin_transfer(self, ctx: RequestContext, image_id: str, kind: str, declared_size: int | None) -> Transfer:
        """Claim a queued image for an upload ('saving') or a stage ('uploading')."""
        to_status = "saving" if kind == "upload" else "uploading"
        resource = quota.IMAGE_SIZE_TOTAL if kind == "upload" else quota.IMAGE_STAGE_TOTAL
        with self.cloud.db.session() as s:
            image = self._visible(s, ctx, image_id)
            try:
                self._enforce(ctx, "upload_image", image)
            except Forbidden:
                raise Forbidden(f"Not allowed to upload image data for image {image_id}") from None
            if to_status not in STATUS_TARGETS.get(image.status, ()):
                raise _transition_error(image, to_status)
            if kind == "stage" and self.store.staged_path(image_id).exists():
                raise Conflict(f"The image {image_id} has data on staging")
            if kind == "upload":
                _require_formats(image)
            delta = (declared_size or 0) // quota.MIB
            quota.enforce(self.cloud, s, image.owner, {resource: delta})
            quota.enforce(self.cloud, s, image.owner, {quota.IMAGE_COUNT_UPLOADING: 1})
            claimed = s.execute(
                update(Image)
                .where(Image.id == image_id, Image.status == image.status)
                .values(status=to_status, transfer_holder=self.holder, updated_at=utcnow())
            )
            if claimed.rowcount != 1:
                raise Conflict(f"Image {image_id} is being changed by another request; try again.")
            return Transfer(
                image_id=image_id,
                owner=image.owner,
                kind=kind,
                disk_format=image.disk_format,
                container_format=image.container_format,
                max_bytes=quota.bytes_allowed(self.cloud, s, image.owner, resource),
                quota_resource=resource,
            )

    def over_limit_error(self, transfer: Transfer, received: int) -> PayloadTooLarge:
        with self.cloud.db.session() as s:
            return quota.transfer_over_limit(self.cloud, s, transfer.owner or "", transfer.quota_resource, received)

    def abort_transfer(self, transfer: Transfer) -> None:
        """The bytes did not make it: the image is 'queued' again, as if never touched."""
        status = "saving" if transfer.kind == "upload" else "uploading"
        with self.cloud.db.session() as s:
            s.execute(
                update(Image)
                .where(Image.id == transfer.image_id, Image.status == status, Image.transfer_holder == self.holder)
                .values(
                    status="queued",
                    size=None,
                    virtual_size=None,
                    staged_size=None,
                    transfer_holder=None,
                    updated_at=utcnow(),
                )
            )

    def finish_upload(self, transfer: Transfer, blob: WrittenBlob) -> None:
        """Check the bytes are what the image claims, then make the image active."""
        try:
            verdict = check_upload(blob.sniffed, transfer.disk_format, transfer.container_format)
        except ImageFormatError as exc:
            raise ImageDataRefused(str(exc)) from exc
        values = {
            "status": "active",
            "size": blob.size,
            "virtual_size": verdict.virtual_size,
            "checksum": blob.md5,
            "os_hash_algo": HASH_ALGO,
            "os_hash_value": blob.sha512,
            "transfer_holder": None,
            "updated_at": utcnow(),
        }
        self._commit_data(transfer.image_id, "saving", blob, values)

    def _commit_data(self, image_id: str, from_status: str, blob: WrittenBlob, values: dict[str, Any],
                     drop_properties: tuple[str, ...] = ()) -> None:
        with self._data_lock:
            key = self.store.commit(blob)
            with self.cloud.db.session() as s:
                done = s.execute(
                    update(Image)
                    .where(Image.id == image_id, Image.status == from_status, Image.transfer_holder == self.holder)
                    .values(data_key=key, **values)
                )
                committed = done.rowcount == 1
                if committed and drop_properties:
                    # Same transaction: no reader may see the image active with its import marker.
                    image = s.get(Image, image_id)
                    for name in drop_properties:
                        _drop_property(image, name)
                if not committed and s.scalar(select(Image.id).where(Image.data_key == key).limit(1)) is None:
                    self.store.delete_data(key)
            if not committed:
                raise Gone(
                    f"Image {image_id} could not be found after upload. The image may have been deleted "
                    "during the upload, cleaning up the chunks uploaded."
                )

    def finish_stage(self, transfer: Transfer, blob: WrittenBlob) -> None:
        self.store.stage(blob, transfer.image_id)
        with self.cloud.db.session() as s:
            done = s.execute(
                update(Image)
                .where(Image.id == transfer.image_id, Image.status == "uploading", Image.transfer_holder == self.holder)
                .values(size=blob.size, staged_size=blob.size, transfer_holder=None, updated_at=utcnow())
            )
            staged = done.rowcount == 1
        if not staged:
            self.store.unstage(transfer.image_id)
            raise Gone(
                f"Image {transfer.image_id} could not be found after upload. The image may have been deleted "
                "during the upload, cleaning up the chunks uploaded."
            )

    # -- data: download ------------------------------------------------------------

    def open_download(self, ctx: RequestContext, image_id: str) -> Download | None:
        """What to stream for GET .../file; None when the image has no data (204)."""
        with self.cloud.db.session() as s:
            image = self._visible(s, ctx, image_id)
            if image.status == "deactivated" and not ctx.is_admin:
                raise Forbidden("The requested image has been deactivated. Image data download is forbidden.")
            self._enforce(ctx, "download_image", image)
            if image.data_key is None or image.size is None:
                return None
            return Download(image.data_key, image.size, image.checksum)

    def read_data(self, download: Download, offset: int, length: int) -> Iterator[bytes] | None:
        """The stored bytes, opened now (before any response is sent); None if they are gone."""
        try:
            return self.store.read_range(download.key, offset, length)
        except StoreError:
            log.error("image data %s... is missing from the store", download.key[:16])
            return None

    # -- interoperable import -----------------------------------------------------------

    def import_image(self, ctx: RequestContext, image_id: str, body: Any) -> None:
        from gureum.image import importing

        method, uri = importing.parse_import_body(body)
        task_id = str(uuid.uuid4())
        with self.cloud.db.session() as s:
            image = self._visible(s, ctx, image_id)
            quota.enforce(self.cloud, s, image.owner, {quota.IMAGE_SIZE_TOTAL: 0})
            importing.check_importable(image, method, self.store.staged_path(image_id).exists())
            self._enforce(ctx, "modify_image", image)
            if _property(image, IMPORT_TASK_PROPERTY):
                raise Conflict(
                    f"New operation on image '{image_id}' is not permitted as prior operation is still in progress"
                )
            if method == "web-download":
                quota.enforce(self.cloud, s, image.owner, {quota.IMAGE_COUNT_UPLOADING: 1})
            claimed = s.execute(
                update(Image)
                .where(Image.id == image_id, Image.status == image.status)
                .values(status="importing", transfer_holder=self.holder, updated_at=utcnow())
            )
            if claimed.rowcount != 1:
                raise Conflict(f"Image {image_id} is being changed by another request; try again.")
            s.refresh(image)
            _set_property(image, IMPORT_TASK_PROPERTY, task_id)
            _drop_property(image, FAILED_IMPORT_PROPERTY)
            _drop_property(image, IMPORT_ERROR_PROPERTY)
            job = importing.ImportJob(
                task_id=task_id,
                image_id=image_id,
                owner=image.owner,
                method=method,
                uri=uri,
                disk_format=image.disk_format,
                container_format=image.container_format,
                max_bytes=quota.bytes_allowed(self.cloud, s, image.owner, quota.IMAGE_SIZE_TOTAL),
            )
        self._pool().submit(importing.run_import, self, job)

    def _pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._import_pool is None:
                self._import_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="image-import")
            return self._import_pool

    def finish_import(self, image_id: str, blob: WrittenBlob, virtual_size: int | None) -> None:
        values = {
            "status": "active",
            "size": blob.size,
            "virtual_size": virtual_size,
            "checksum": blob.md5,
            "os_hash_algo": HASH_ALGO,
            "os_hash_value": blob.sha512,
            "staged_size": None,
            "transfer_holder": None,
            "updated_at": utcnow(),
        }
        self._commit_data(image_id, "importing", blob, values, drop_properties=(IMPORT_TASK_PROPERTY,))

    def fail_import(self, image_id: str, reason: str) -> None:
        """The import did not complete: back to 'queued', the failure recorded on the image."""
        with self.cloud.db.session() as s:
            image = s.get(Image, image_id)
            if image is None or image.status != "importing" or image.transfer_holder != self.holder:
                return
            self._back_to_queued(image)
            _drop_property(image, IMPORT_TASK_PROPERTY)
            _set_property(image, FAILED_IMPORT_PROPERTY, STORE_ID)
            _set_property(image, IMPORT_ERROR_PROPERTY, reason[:1000])
        self.store.unstage(image_id)

    def import_methods(self) -> tuple[str, ...]:
        return IMPORT_METHODS

    # -- usage ----------------------------------------------------------------------------

    def usage(self, ctx: RequestContext) -> dict[str, Any]:
        if ctx.project_id is None:
            raise BadRequest("Image usage is reported for a project: use a project-scoped token.")
        with self.cloud.db.session() as s:
            return {"usage": quota.usage_report(self.cloud, s, ctx.project_id)}

    # -- for other services (compute) -----------------------------------------------------

    def register_image_from_file(
        self,
        project_id: str,
        path: Path,
        *,
        name: str,
        disk_format: str,
        container_format: str = "bare",
        visibility: str = "private",
        properties: dict[str, str] | None = None,
        min_disk: int = 0,
        min_ram: int = 0,
    ) -> dict[str, Any]:
        """Create an active image owned by `project_id` from a local file (snapshots, seeding)."""
        fields: dict[str, Any] = {
            "name": name,
            "disk_format": disk_format,
            "container_format": container_format,
            "visibility": visibility,
            "min_disk": min_disk,
            "min_ram": min_ram,
        }
        validate_image_fields({**fields, **(properties or {})})
        image_id = str(uuid.uuid4())
        with self.cloud.db.session() as s:
            quota.enforce(self.cloud, s, project_id, {quota.IMAGE_COUNT_TOTAL: 1, quota.IMAGE_COUNT_UPLOADING: 1})
            now = utcnow()
            image = Image(
                id=image_id, status="saving", owner=project_id, created_at=now, updated_at=now,
                transfer_holder=self.holder, **fields,
            )
            image.properties = [ImageProperty(name=k, value=v) for k, v in (properties or {}).items()]
            s.add(image)
            max_bytes = quota.bytes_allowed(self.cloud, s, project_id, quota.IMAGE_SIZE_TOTAL)
        transfer = Transfer(image_id, project_id, "upload", disk_format, container_format, max_bytes, quota.IMAGE_SIZE_TOTAL)
        writer = self.store.new_writer(self.holder)
        try:
            with open(path, "rb") as source:
                try:
                    copy_into(writer, iter(lambda: source.read(IO_CHUNK_BYTES), b""), max_bytes=max_bytes)
                except TransferTooLarge as exc:
                    raise self.over_limit_error(transfer, exc.received) from exc
            self.finish_upload(transfer, writer.finish())
        except BaseException:
            # Nobody asked for a queued image here: a failed registration leaves nothing.
            writer.abort()
            with self.cloud.db.session() as s:
                leftover = s.get(Image, image_id)
                if leftover is not None and leftover.status != "active":
                    s.delete(leftover)
            raise
        with self.cloud.db.session() as s:
            return image_view(s.get(Image, image_id))  # type: ignore[arg-type]

    def image_data_path(self, image_id: str) -> Path:
        """Where an active image's bytes are, for the hypervisor image cache (no policy here)."""
        with self.cloud.db.session() as s:
            image = s.get(Image, image_id) if is_uuid(image_id) else None
            if image is None or image.data_key is None or image.status not in ("active", "deactivated"):
                raise image_not_found(image_id)
            return self.store.data_path(image.data_key)

    def image_for_server(self, ctx: RequestContext, image_id: str) -> tuple[dict[str, Any], Path]:
        """An image a caller may boot from: its view and its data path (403/404 as glance would)."""
        with self.cloud.db.session() as s:
            image = self._visible(s, ctx, image_id)
            self._enforce(ctx, "get_image", image)
            if image.status != "active" or image.data_key is None:
                raise Conflict(f"Image {image_id} is not active.")
            return image_view(image), self.store.data_path(image.data_key)
