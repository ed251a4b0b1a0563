"""Checks of server input that the compute API and service share, in Nova's words."""

from __future__ import annotations

import base64
import binascii
import ipaddress
from typing import Any

from gureum.http.errors import BadRequest
from gureum.image.service import is_uuid


def image_id_from_ref(ref: str) -> str:
    """An imageRef (an id or a link ending in one) as the image id."""
    image_id = ref.rstrip("/").rsplit("/", 1)[-1]
    if not is_uuid(image_id):
        raise BadRequest(f"Invalid imageRef provided: {ref!r} is not an image id.")
    return image_id


def user_data(value: str | None) -> str | None:
    """user_data must be base64, as Nova checks it."""
    if value is None:
        return None
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest("Invalid input for field/attribute user_data. Value: ... is not valid base64.") from exc
    return value


def access_ip(value: Any, version: int) -> str:
    """accessIPv4/accessIPv6 as Nova stores them: validated, IPv6 in its canonical form."""
    if value in (None, ""):
        return ""
    field = f"accessIPv{version}"
    try:
        address = ipaddress.ip_address(str(value))
    except ValueError as exc:
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. "
                         f"'{value}' is not a 'ipv{version}'") from exc
    if address.version != version:
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. "
                         f"'{value}' is not a 'ipv{version}'")
    return str(address)


def meta_items(value: Any, key: str = "metadata") -> dict[str, str]:
    """A metadata object: string keys of 1-255 characters, string values of at most 255."""
    if not isinstance(value, dict):
        raise BadRequest(f"Invalid input for field/attribute {key}: expected an object.")
    items = {}
    for k, v in value.items():
        if not isinstance(k, str) or not 1 <= len(k) <= 255:
            raise BadRequest(f"Invalid input for field/attribute {key}: keys are 1 to 255 characters.")
        if not isinstance(v, str) or len(v) > 255:
            raise BadRequest(f"Invalid input for field/attribute {key}. Value: {v!r}: values are strings of at most 255.")
        items[k] = v
    return items


def check_image_fits(image: dict[str, Any], flavor: dict[str, Any]) -> None:
    """The flavor's root disk and RAM hold what the image needs (Nova's 400s)."""
    size = image.get("size") or 0
    virtual = image.get("virtual_size") or 0
    root_bytes = flavor["disk"] * 1024**3
    if flavor["disk"] and max(size, virtual) > root_bytes:
        raise BadRequest(f"Flavor's disk is too small for requested image. Flavor disk is {root_bytes} bytes, "
                         f"image is {max(size, virtual)} bytes.")
    if image.get("min_ram") and flavor["ram"] < int(image["min_ram"]):
        raise BadRequest("Flavor's memory is too small for requested image.")
    if image.get("min_disk") and flavor["disk"] and flavor["disk"] < int(image["min_disk"]):
        raise BadRequest("Flavor's disk is too small for requested image.")
