"""What a server create names, looked up in the create's own transaction (Nova's _validate_and_build_base_options).

The image, flavor, key pair, security groups and server group a request names are
checked here, with Nova's 400s, in the same session that then makes the rows: what
was checked is what the create acts on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from gureum.compute.flavors import find_flavor, flavor_snapshot
from gureum.compute.keypairs import get_keypair
from gureum.compute.models import ServerGroup
from gureum.compute.quotas import limits_for
from gureum.compute.validation import check_image_fits
from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest, Conflict, Forbidden, NotFound

if TYPE_CHECKING:
    from gureum.cloud import Cloud

# Image properties the scheduler matches hosts against.
SCHEDULING_PROPERTIES = ("hypervisor_type", "architecture", "hw_architecture")


@dataclass(frozen=True)
class BlockDevice:
    """One block_device_mapping_v2 entry with a volume for its destination (the API checked
    its form): an existing volume, or one made with the server from an image, a snapshot
    or nothing (blank)."""

    source: str  # volume | image | snapshot | blank
    uuid: str | None = None  # the volume, image or snapshot (None for blank)
    boot_index: int | None = None  # 0: the server boots from it
    volume_size: int | None = None  # GiB of a volume made with the server
    delete_on_termination: bool = False
    tag: str | None = None
    device_name: str | None = None


@dataclass(frozen=True)
class ServerRequest:
    """A parsed create request: the API checked each field's form; the service checks what they name."""

    name: str
    image_id: str
    flavor_ref: str
    key_name: str | None = None
    user_data: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    availability_zone: str | None = None
    min_count: int = 1
    max_count: int = 1
    config_drive: bool | None = None  # None: not asked, the cloud's default_config_drive
    # As asked (names or ids); none asked means the project's default group.
    security_groups: list[str] = field(default_factory=lambda: ["default"])
    networks: Any = "auto"
    group_id: str | None = None  # the scheduler hint `group`
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    access_ip_v4: str = ""
    access_ip_v6: str = ""
    # The block_device_mapping_v2 entries with a volume destination (image to local disk is
    # `image_id`); an empty `image_id` boots from the one with boot_index 0.
    block_devices: list[BlockDevice] = field(default_factory=list)


@dataclass(frozen=True)
class Boot:
    """What the request's references resolved to."""

    flavor: dict[str, Any]  # the instance's flavor snapshot, with the image's scheduling properties
    key_name: str | None
    key_data: str | None
    group_id: str | None


def resolve(session: Session, cloud: "Cloud", ctx: RequestContext, request: ServerRequest) -> Boot:
    # Booted from a volume, the server has no image of its own (Nova shows image "").
    image = cloud.image.image_for_server(ctx, request.image_id)[0] if request.image_id else None
    try:
        flavor = find_flavor(session, request.flavor_ref, ctx)
    except NotFound as exc:
        # Nova answers a flavor the caller cannot use with 400 on create, not 404.
        raise BadRequest(f"Flavor {request.flavor_ref} could not be found.") from exc
    snapshot = flavor_snapshot(flavor)
    check_metadata_quota(session, ctx.project_id or "", request.metadata)
    key_name, key_data = None, None
    if request.key_name:
        try:
            keypair = get_keypair(session, ctx.user_id, request.key_name)
        except NotFound as exc:
            raise BadRequest(f"Invalid key_name provided: {exc}") from exc
        key_name, key_data = keypair.name, keypair.public_key
    check_security_groups(session, cloud, ctx, request.security_groups)
    if request.group_id:
        group = session.get(ServerGroup, request.group_id)
        if group is None or (group.project_id != ctx.project_id and not ctx.is_admin):
            raise BadRequest(f"Invalid server group {request.group_id}: it does not exist.")
    if image is not None:
        check_image_fits(image, snapshot)
    snapshot["image_properties"] = {k: v for k, v in (image or {}).items() if k in SCHEDULING_PROPERTIES}
    return Boot(flavor=snapshot, key_name=key_name, key_data=key_data, group_id=request.group_id)


def check_metadata_quota(session: Session, project_id: str, metadata: dict[str, Any]) -> None:
    """Nova counts metadata items against the metadata_items quota: 403 when over."""
    allowed = limits_for(session, project_id).get("metadata_items", -1)
    if 0 <= allowed < len(metadata):
        raise Forbidden(f"Quota exceeded for metadata_items: Maximum number of metadata items exceeds {allowed}")


def check_security_groups(session: Session, cloud: "Cloud", ctx: RequestContext, refs: list[str]) -> None:
    """Nova asks the network service for each named group first: an unknown one is a 400."""
    for ref in refs:
        if ref == "default":
            continue  # made on demand for the project when its ports are
        try:
            cloud.network.find_security_group(session, ctx, ref)
        except NotFound as exc:
            raise BadRequest(f"Security group {ref} not found for project {ctx.project_id}.") from exc
        except Conflict as exc:
            raise Conflict(exc.message) from exc
