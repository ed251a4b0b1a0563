"""Image PATCH bodies: glance's JSON-patch dialects, checked before anything changes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gureum.http.errors import BadRequest, Forbidden, UnsupportedMediaType
from gureum.image.schemas import validate_image_fields

PATCH_MEDIA_TYPES = {
    "application/openstack-images-v2.0-json-patch": 4,
    "application/openstack-images-v2.1-json-patch": 10,
}
OPERATIONS = ("add", "remove", "replace")
# Attributes the server owns; a client may never write them.
READ_ONLY = (
    "created_at",
    "updated_at",
    "status",
    "checksum",
    "size",
    "virtual_size",
    "direct_url",
    "self",
    "file",
    "schema",
    "id",
    "os_hash_algo",
    "os_hash_value",
    "stores",
)
RESERVED = ("location", "deleted", "deleted_at")
RESERVED_NAMESPACE = "os_glance"


@dataclass(frozen=True)
class Change:
    op: str
    path: tuple[str, ...]
    value: Any = None
    draft: int = 10

    @property
    def name(self) -> str:
        return self.path[0]


def check_writable(name: str) -> None:
    """403 for attributes only the server writes, in glance's words."""
    if name in READ_ONLY:
        raise Forbidden(f"Attribute '{name}' is read-only.")
    if name in RESERVED or name.startswith(RESERVED_NAMESPACE):
        raise Forbidden(f"Attribute '{name}' is reserved.")


def patch_draft(content_type: str | None) -> int:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type not in PATCH_MEDIA_TYPES:
        allowed = ", ".join(sorted(PATCH_MEDIA_TYPES))
        raise UnsupportedMediaType(
            f"Image PATCH expects Content-Type one of: {allowed}", headers={"Accept-Patch": allowed}
        )
    return PATCH_MEDIA_TYPES[media_type]


def _decode_pointer(pointer: Any) -> tuple[str, ...]:
    if not isinstance(pointer, str):
        raise BadRequest(f"Pointer `{pointer}` does not start with \"/\".")
    if not pointer.startswith("/"):
        raise BadRequest(f'Pointer `{pointer}` does not start with "/".')
    if re.search(r"/\s*?/", pointer[1:]):
        raise BadRequest(f'Pointer `{pointer}` contains adjacent "/".')
    if len(pointer) > 1 and pointer.endswith("/"):
        raise BadRequest(f'Pointer `{pointer}` end with "/".')
    if pointer[1:].strip() == "/":
        raise BadRequest(f"Pointer `{pointer}` does not contains valid token.")
    if re.search("~[^01]", pointer) or pointer.endswith("~"):
        raise BadRequest(f'Pointer `{pointer}` contains "~" not part of a recognized escape sequence.')
    return tuple(part.replace("~1", "/").replace("~0", "~").strip() for part in pointer.lstrip("/").split("/"))


def _operation(raw: dict[str, Any], draft: int) -> tuple[str, Any]:
    if draft == 4:
        present = [op for op in OPERATIONS if op in raw]
        if len(present) > 1:
            raise BadRequest('Operation objects must contain only one member named "add", "remove", or "replace".')
        if not present:
            raise BadRequest('Operation objects must contain exactly one member named "add", "remove", or "replace".')
        return present[0], raw[present[0]]
    op = raw.get("op")
    if op is None:
        raise BadRequest(
            f"Unable to find `op` in JSON Schema change. It must be one of the following: {', '.join(OPERATIONS)}."
        )
    if op not in OPERATIONS:
        raise BadRequest(f"Invalid operation: `{op}`. It must be one of the following: {', '.join(OPERATIONS)}.")
    if "path" not in raw:
        raise BadRequest("Unable to find 'path' in JSON Schema change")
    return op, raw["path"]


def parse_changes(body: Any, draft: int) -> list[Change]:
    if body is None:
        raise BadRequest("Body expected in request.")
    if not isinstance(body, list):
        raise BadRequest("Request body must be a JSON array of operation objects.")
    changes = []
    for raw in body:
        if not isinstance(raw, dict):
            raise BadRequest("Operations must be JSON objects.")
        op, pointer = _operation(raw, draft)
        path = _decode_pointer(pointer)
        if len(path) != 1:
            raise BadRequest(f"Invalid JSON pointer for this resource: '/{'/'.join(path)}'")
        if op != "remove" and "value" not in raw:
            raise BadRequest(f'Operation "{op}" requires a member named "value".')
        change = Change(op, path, raw.get("value"), draft)
        check_writable(change.name)
        if change.name == "locations":
            raise Forbidden("It's not allowed to update locations if locations are invisible.")
        if op != "remove":
            validate_image_fields({change.name: change.value})
        changes.append(change)
    return changes
