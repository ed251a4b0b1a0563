"""The exact JSON glance returns: images, members, lists, versions, discovery."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from gureum.image.models import Image, ImageMember

# Newest first; glance without an image cache or several stores serves this set.
API_VERSIONS = (
    ("2.17", "CURRENT"),
    ("2.15", "SUPPORTED"),
    ("2.9", "SUPPORTED"),
    ("2.7", "SUPPORTED"),
    ("2.6", "SUPPORTED"),
    ("2.5", "SUPPORTED"),
    ("2.4", "SUPPORTED"),
    ("2.3", "SUPPORTED"),
    ("2.2", "SUPPORTED"),
    ("2.1", "SUPPORTED"),
    ("2.0", "SUPPORTED"),
)
IMPORT_METHODS = ("glance-direct", "web-download")


def isotime(moment: datetime | None) -> str | None:
    """Glance's timestamps: second precision, 'Z' for UTC."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# The attributes image_view gives every image; any other key is one of the image's own properties.
BASE_KEYS = frozenset({
    "name", "disk_format", "container_format", "visibility", "size", "virtual_size", "status", "checksum",
    "protected", "min_ram", "min_disk", "owner", "os_hidden", "os_hash_algo", "os_hash_value", "id", "created_at",
    "updated_at", "tags", "self", "file", "schema",
})


def image_view(image: Image) -> dict[str, Any]:
    view: dict[str, Any] = {prop.name: prop.value for prop in image.properties}
    view.update(
        {
            "name": image.name,
            "disk_format": image.disk_format,
            "container_format": image.container_format,
            "visibility": image.visibility,
            "size": image.size,
            "virtual_size": image.virtual_size,
            "status": image.status,
            "checksum": image.checksum,
            "protected": image.protected,
            "min_ram": image.min_ram,
            "min_disk": image.min_disk,
            "owner": image.owner,
            "os_hidden": image.os_hidden,
            "os_hash_algo": image.os_hash_algo,
            "os_hash_value": image.os_hash_value,
            "id": image.id,
            "created_at": isotime(image.created_at),
            "updated_at": isotime(image.updated_at),
            "tags": [tag.value for tag in image.tags],
            "self": f"/v2/images/{image.id}",
            "file": f"/v2/images/{image.id}/file",
            "schema": "/v2/schemas/image",
        }
    )
    return view


def images_page(images: list[dict[str, Any]], params: list[tuple[str, str]], next_marker: str | None) -> dict[str, Any]:
    """The list body; `first` and `next` repeat the caller's query, as glance does."""
    kept = [(k, v) for k, v in params if k != "marker"]
    query = urlencode(kept)
    body: dict[str, Any] = {
        "images": images,
        "first": f"/v2/images?{query}" if query else "/v2/images",
        "schema": "/v2/schemas/images",
    }
    if next_marker is not None:
        body["next"] = "/v2/images?" + urlencode([*kept, ("marker", next_marker)])
    return body


def member_view(member: ImageMember) -> dict[str, Any]:
    return {
        "member_id": member.member_id,
        "image_id": member.image_id,
        "status": member.status,
        "created_at": isotime(member.created_at),
        "updated_at": isotime(member.updated_at),
        "schema": "/v2/schemas/member",
    }


def members_view(members: list[ImageMember]) -> dict[str, Any]:
    return {"members": [member_view(m) for m in members], "schema": "/v2/schemas/members"}


def versions_view(service_root: str) -> dict[str, Any]:
    href = service_root.rstrip("/") + "/v2/"
    return {
        "versions": [
            {"id": f"v{version}", "status": status, "links": [{"rel": "self", "href": href}]}
            for version, status in API_VERSIONS
        ]
    }


def import_info_view() -> dict[str, Any]:
    return {
        "import-methods": {
            "description": "Import methods available.",
            "type": "array",
            "value": list(IMPORT_METHODS),
        }
    }
