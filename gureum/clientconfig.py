"""What `gureum up` writes for clients: a clouds.yaml entry and an openrc file."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Any

import yaml

from gureum.config import Settings


def auth_url(settings: Settings) -> str:
    return f"{settings.base_url}/identity/v3"


def admin_auth(settings: Settings, password: str) -> dict[str, Any]:
    return {
        "auth_url": auth_url(settings),
        "username": "admin",
        "password": password,
        "project_name": "admin",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }


def _write_private(path: Path, text: str) -> None:
    """Write atomically with mode 0600: both files hold the admin password."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_clouds_yaml(path: Path, cloud_name: str, settings: Settings, password: str) -> None:
    """Set our entry and keep every other cloud in the file as it was."""
    data: dict[str, Any] = {}
    if path.exists():
        loaded = yaml.safe_load(path.read_text()) or {}
        if isinstance(loaded, dict):
            data = loaded
    clouds = data.setdefault("clouds", {})
    clouds[cloud_name] = {
        "auth": admin_auth(settings, password),
        "region_name": settings.region,
        "identity_api_version": 3,
        "interface": "public",
    }
    _write_private(path, yaml.safe_dump(data, default_flow_style=False, sort_keys=False))


def openrc_text(settings: Settings, password: str) -> str:
    values = {
        "OS_AUTH_URL": auth_url(settings),
        "OS_USERNAME": "admin",
        "OS_PASSWORD": password,
        "OS_PROJECT_NAME": "admin",
        "OS_USER_DOMAIN_NAME": "Default",
        "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": settings.region,
        "OS_IDENTITY_API_VERSION": "3",
        "OS_INTERFACE": "public",
    }
    lines = ["# gureum admin credentials: source this file, then run openstack commands."]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def write_openrc(path: Path, settings: Settings, password: str) -> None:
    _write_private(path, openrc_text(settings, password))
