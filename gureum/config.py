"""Typed settings. Every default makes an all-in-one cloud work untouched."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PORT = 8770


def default_state_dir() -> Path:
    """/var/lib/gureum for root, the user's data dir otherwise."""
    if os.geteuid() == 0:
        return Path("/var/lib/gureum")
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "gureum"


@dataclass(frozen=True)
class LockoutSettings:
    """Brute-force protection, defaults as the seed's fail2ban jail."""

    user_max_failures: int = 10
    user_window_seconds: int = 600
    user_lock_seconds: int = 86400
    # Per source address: many users guessed from one place is an attack too.
    source_max_failures: int = 30
    source_window_seconds: int = 600
    source_lock_seconds: int = 3600


@dataclass(frozen=True)
class Settings:
    state_dir: Path = field(default_factory=default_state_dir)
    listen_host: str = "127.0.0.1"
    listen_port: int = DEFAULT_PORT
    # The URL clients use to reach this controller; derived from listen when empty.
    public_url: str = ""
    database_url: str = ""
    region: str = "RegionOne"
    token_lifetime_seconds: int = 3600
    # Token keys rotate this often; old keys stay while tokens they signed can live.
    token_key_rotation_seconds: int = 86400
    policy_file: str = ""
    cloud_name: str = "gureum"
    clouds_yaml: str = ""
    max_json_body_bytes: int = 1024 * 1024
    lockout: LockoutSettings = field(default_factory=LockoutSettings)
    # argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane).
    password_hash_memory_kib: int = 19456
    password_hash_time_cost: int = 2
    image_store_dir: str = ""
    log_level: str = "info"
    # Compute: a server whose create names no config_drive gets one, so its key and user
    # data reach it before (or without) the metadata service; config_drive false gets none.
    default_config_drive: bool = True
    # spread: the most free RAM first; pack: the least.
    scheduler_weigher: str = "spread"
    # `gureum up` runs an agent for this host; QEMU accelerator: "" probes, or kvm / tcg.
    run_agent: bool = True
    # `gureum up` builds the small test guest from Debian packages and registers it.
    register_guest_image: bool = True
    agent_accel: str = ""
    # Where guests' DNS queries go when their subnet names no DNS servers (the DHCP port
    # relays them): None, this host's /etc/resolv.conf; [], nowhere; or "ip[:port]" entries.
    guest_dns_upstreams: list[str] | None = None
    # The agent's dataplane: "" keeps it in this host's own network namespace; a name puts
    # bridges, taps and guests in that namespace instead (a host stand-in, for tests and labs).
    agent_netns: str = ""
    # Prefix of the namespaces and firewall tables the agent makes ("": the agent's default,
    # gureum-; tests give each agent its own).
    agent_name_prefix: str = ""
    # Physical network -> bridge on this host, like the seed's provider:br-ex. The all-in-one
    # agent makes a missing bridge itself (with no uplink: see the README for connecting it).
    bridge_mappings: dict[str, str] = field(default_factory=lambda: {"provider": "br-provider"})
    # The address other hosts reach this one at for VXLAN ("" = what the hostname resolves to).
    agent_local_ip: str = ""
    # Opt-in: the external subnet's gateway (e.g. 203.0.113.1/24), given to the first mapped
    # bridge with NAT out through the host's routes, so floating IPs answer from this host.
    external_gateway: str = ""

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.listen_host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.listen_port}"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_dir / 'gureum.db'}"

    @property
    def effective_policy_file(self) -> Path:
        return Path(self.policy_file) if self.policy_file else self.state_dir / "policy.yaml"

    @property
    def effective_image_store_dir(self) -> Path:
        return Path(self.image_store_dir) if self.image_store_dir else self.state_dir / "images"

    @property
    def effective_clouds_yaml(self) -> Path:
        if self.clouds_yaml:
            return Path(self.clouds_yaml)
        config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(config_home) / "openstack" / "clouds.yaml"

    def with_overrides(self, **values: Any) -> "Settings":
        known = {f.name for f in fields(self)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        return replace(self, **values)


def load_settings_file(path: Path) -> dict[str, Any]:
    """Read optional overrides from a YAML file (gureum.yaml in the state dir)."""
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of setting names to values")
    if "lockout" in data:
        data["lockout"] = LockoutSettings(**data["lockout"])
    if "state_dir" in data:
        data["state_dir"] = Path(data["state_dir"])
    return data
