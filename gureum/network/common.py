"""Input checks and helpers shared by the network service, in neutron's words."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Any

from gureum.http.errors import BadRequest

MAC_RE = re.compile(r"^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$")
TRUE = ("true", "1", "t", "yes", "y", "on")
FALSE = ("false", "0", "f", "no", "n", "off")


def invalid(field: str, reason: str) -> BadRequest:
    return BadRequest(f"Invalid input for {field}. Reason: {reason}.", kind="HTTPBadRequest")


def invalid_operation(reason: str) -> BadRequest:
    return BadRequest(f"Invalid input for operation: {reason}.", kind="InvalidInput")


def as_bool(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (str, int)) and str(value).strip().lower() in TRUE:
        return True
    if isinstance(value, (str, int)) and str(value).strip().lower() in FALSE:
        return False
    raise invalid(field, f"'{value}' cannot be converted to boolean")


def as_str(value: Any, field: str, max_len: int = 255, nullable: bool = False) -> str | None:
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise invalid(field, f"'{value}' is not a valid string")
    if len(value) > max_len:
        raise invalid(field, f"'{value[:40]}...' exceeds maximum length of {max_len}")
    return value


def as_int(value: Any, field: str, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool):
        raise invalid(field, f"'{value}' is not an integer")
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise invalid(field, f"'{value}' is not an integer") from exc
    if (low is not None and number < low) or (high is not None and number > high):
        raise invalid(field, f"'{value}' is not in range {low} through {high}")
    return number


def as_ip(value: Any, field: str, version: int | None = None) -> str:
    try:
        address = ipaddress.ip_address(str(value)) if isinstance(value, str) else None
    except ValueError:
        address = None
    if address is None:
        raise invalid(field, f"'{value}' is not a valid IP address")
    if version is not None and address.version != version:
        raise invalid(field, f"'{value}' is not an IPv{version} address")
    return str(address)


def as_mac(value: Any, field: str = "mac_address") -> str:
    if not isinstance(value, str) or not MAC_RE.match(value):
        raise invalid(field, f"'{value}' is not a valid MAC address")
    mac = value.lower().replace("-", ":")
    if int(mac.split(":")[0], 16) & 1 or mac == "00:00:00:00:00:00":
        raise invalid(field, f"'{value}' is not a valid unicast MAC address")
    return mac


def as_list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise invalid(field, f"'{value}' is not a list")
    return value


def as_dict(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(field, f"'{value}' is not a dictionary")
    return value


def check_keys(body: dict[str, Any], allowed: set[str], method: str) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'", kind="HTTPBadRequest")


def read_only(body: dict[str, Any], names: set[str], method: str) -> None:
    for name in sorted(names & set(body)):
        raise BadRequest(f"Attribute '{name}' not allowed in {method}", kind="HTTPBadRequest")


def resource_body(body: Any, key: str) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise BadRequest(f"Resource body required: the request must be a JSON object with a '{key}' object.",
                         kind="HTTPBadRequest")
    return body[key]


def timestamp(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
