"""Put the built guest into the image service, so a new cloud can boot a server at once."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import select

from gureum.guest.build import build_guest_image, default_cache_dir
from gureum.identity.models import Project

if TYPE_CHECKING:
    from gureum.cloud import Cloud

log = logging.getLogger(__name__)

GUEST_IMAGE_NAME = "gureum-guest"
KEY_PROPERTY = "gureum_guest_key"


def ensure_guest_image(cloud: "Cloud") -> str:
    """Build (or find in the cache) the guest disk and register it once per build; returns its image id."""
    from gureum.compute.service import service_context  # noqa: PLC0415

    guest = build_guest_image(default_cache_dir())
    with cloud.db.read() as session:
        admin_project = session.execute(
            select(Project.id).where(Project.name == "admin", Project.domain_id == "default")
        ).scalar_one()
    ctx = service_context(admin_project)
    existing, _next = cloud.image.list_images(ctx, [(KEY_PROPERTY, guest.key)])
    for image in existing:
        if image.get("status") == "active":
            return str(image["id"])
    image = cloud.image.register_image_from_file(
        admin_project,
        guest.disk,
        name=GUEST_IMAGE_NAME,
        disk_format="qcow2",
        visibility="public",
        properties={KEY_PROPERTY: guest.key, "os_distro": "gureum-guest", "os_type": "linux",
                    "description": "A tiny Linux (Debian kernel, busybox, dropbear) that boots in seconds"},
        min_ram=96,
    )
    log.info("registered the guest image %s (%s)", GUEST_IMAGE_NAME, image["id"])
    return str(image["id"])
