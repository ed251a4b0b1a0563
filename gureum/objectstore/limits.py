"""Swift's limits (as /info publishes them) and the checks names and metadata pass."""

from __future__ import annotations

from collections.abc import Mapping

from gureum.http.errors import ApiError, BadRequest, NotFound

MAX_FILE_SIZE = 5 * 1024**3 + 2
MAX_META_NAME_LENGTH = 128
MAX_META_VALUE_LENGTH = 256
MAX_META_COUNT = 90
MAX_META_OVERALL_SIZE = 4096
MAX_HEADER_SIZE = 8192
MAX_OBJECT_NAME_LENGTH = 1024
MAX_CONTAINER_NAME_LENGTH = 256
MAX_ACCOUNT_NAME_LENGTH = 256
LISTING_LIMIT = 10000
MAX_MANIFEST_SEGMENTS = 1000
MAX_MANIFEST_SIZE = 8 * 1024 * 1024
DLO_MAX_SEGMENTS = 10000
MAX_DELETES_PER_REQUEST = 10000
MAX_FAILED_DELETES = 1000
MAX_CONTAINERS_PER_EXTRACTION = 10000
MAX_FAILED_EXTRACTIONS = 1000
STORAGE_POLICIES = ("Policy-0",)
SWIFT_VERSION = "2.38.3"


class LengthRequired(ApiError):
    status = 411


class Unprocessable(ApiError):
    status = 422


def check_container_name(name: str) -> None:
    if not name:
        raise NotFound("The resource could not be found.")
    if len(name.encode()) > MAX_CONTAINER_NAME_LENGTH:
        raise BadRequest(f"Container name length of {len(name.encode())} longer than {MAX_CONTAINER_NAME_LENGTH}")
    _check_text(name, "Container name")


def check_object_name(name: str) -> None:
    if len(name.encode()) > MAX_OBJECT_NAME_LENGTH:
        raise BadRequest(f"Object name length of {len(name.encode())} longer than {MAX_OBJECT_NAME_LENGTH}")
    _check_text(name, "Object name")


def _check_text(name: str, what: str) -> None:
    if "\x00" in name:
        raise BadRequest(f"{what} holds a NUL character")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(f"{what} is not valid UTF-8") from None
    # Swift refuses dot segments; a name is never a path on our disk, but a client
    # that builds paths from names must never be handed '..' back.
    if any(part in (".", "..") for part in name.split("/")) and what == "Container name":
        raise BadRequest(f"{what} may not be '.' or '..'")
    if name in (".", ".."):
        raise BadRequest(f"{what} may not be '.' or '..'")


def check_metadata(meta: Mapping[str, str], kind: str) -> None:
    """Swift's per-item and overall limits on X-<Kind>-Meta-* (after an update is merged)."""
    size = 0
    for key, value in meta.items():
        if not key:
            raise BadRequest("Metadata name cannot be empty")
        if len(key) > MAX_META_NAME_LENGTH:
            raise BadRequest(f"Metadata name too long: X-{kind}-Meta-{key}; max {MAX_META_NAME_LENGTH}")
        if len(value) > MAX_META_VALUE_LENGTH:
            raise BadRequest(f"Metadata value longer than {MAX_META_VALUE_LENGTH}: X-{kind}-Meta-{key}")
        size += len(key) + len(value)
    if len(meta) > MAX_META_COUNT:
        raise BadRequest(f"Too many metadata items; max {MAX_META_COUNT}")
    if size > MAX_META_OVERALL_SIZE:
        raise BadRequest(f"Total metadata too large; max {MAX_META_OVERALL_SIZE}")
