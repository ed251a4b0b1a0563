"""Compute tables: flavors, keypairs, hosts and their claims, instances."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gureum.db.base import ID, NAME, Base, new_uuid, utcnow


class Flavor(Base):
    __tablename__ = "compute_flavors"
    # Nova keeps the internal integer id apart from the user-visible flavorid.
    id: Mapped[str] = mapped_column(NAME, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    vcpus: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    root_gb: Mapped[int] = mapped_column(Integer)
    ephemeral_gb: Mapped[int] = mapped_column(Integer, default=0)
    swap: Mapped[int] = mapped_column(Integer, default=0)
    rxtx_factor: Mapped[float] = mapped_column(default=1.0)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)
    extra_specs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FlavorAccess(Base):
    __tablename__ = "compute_flavor_access"
    flavor_id: Mapped[str] = mapped_column(ForeignKey("compute_flavors.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[str] = mapped_column(ID, primary_key=True)


class KeyPair(Base):
    __tablename__ = "compute_keypairs"
    __table_args__ = (UniqueConstraint("user_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ID, index=True)
    name: Mapped[str] = mapped_column(NAME)
    type: Mapped[str] = mapped_column(String(16), default="ssh")
    public_key: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Host(Base):
    """A compute node, registered by its agent; usage counters are claimed atomically."""

    __tablename__ = "compute_hosts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    hostname: Mapped[str] = mapped_column(NAME, unique=True)
    host_ip: Mapped[str] = mapped_column(String(64), default="")
    availability_zone: Mapped[str] = mapped_column(NAME, default="nova")
    hypervisor_type: Mapped[str] = mapped_column(String(32), default="QEMU")
    hypervisor_version: Mapped[int] = mapped_column(Integer, default=0)
    accelerator: Mapped[str] = mapped_column(String(16), default="tcg")
    architecture: Mapped[str] = mapped_column(String(32), default="x86_64")
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    disk_gb: Mapped[int] = mapped_column(Integer, default=0)
    reserved_vcpus: Mapped[int] = mapped_column(Integer, default=0)
    reserved_memory_mb: Mapped[int] = mapped_column(Integer, default=512)
    reserved_disk_gb: Mapped[int] = mapped_column(Integer, default=0)
    cpu_allocation_ratio: Mapped[float] = mapped_column(default=4.0)
    ram_allocation_ratio: Mapped[float] = mapped_column(default=1.0)
    disk_allocation_ratio: Mapped[float] = mapped_column(default=1.0)
    used_vcpus: Mapped[int] = mapped_column(Integer, default=0)
    used_memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    used_disk_gb: Mapped[int] = mapped_column(Integer, default=0)
    running_vms: Mapped[int] = mapped_column(Integer, default=0)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    forced_down: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen_at: Mapped[datetime | None] = mapped_column()
    # Bumped whenever anything this host should do changes; the agent waits on it.
    desired_revision: Mapped[int] = mapped_column(Integer, default=0)
    agent_version: Mapped[str] = mapped_column(String(64), default="")
    cpu_info: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Physical network -> bridge on this host, as its agent reports it (provider:br-ex).
    bridge_mappings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    vlan_supported: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Allocation(Base):
    """What one instance holds on one host; host usage is the sum of these."""

    __tablename__ = "compute_allocations"
    instance_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("compute_hosts.id"), primary_key=True)
    vcpus: Mapped[int] = mapped_column(Integer)
    memory_mb: Mapped[int] = mapped_column(Integer)
    disk_gb: Mapped[int] = mapped_column(Integer)


class Instance(Base):
    __tablename__ = "compute_instances"
    __table_args__ = (Index("ix_compute_instances_project_deleted", "project_id", "deleted"),)
    uuid: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(NAME)
    hostname: Mapped[str] = mapped_column(NAME, default="")
    project_id: Mapped[str] = mapped_column(ID, index=True)
    user_id: Mapped[str] = mapped_column(ID)
    image_ref: Mapped[str] = mapped_column(String(36), default="")
    flavor: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Resize keeps the old flavor until confirm or revert.
    old_flavor: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    host_id: Mapped[int | None] = mapped_column(ForeignKey("compute_hosts.id"), index=True)
    availability_zone: Mapped[str | None] = mapped_column(NAME)
    vm_state: Mapped[str] = mapped_column(String(32), default="building")
    task_state: Mapped[str | None] = mapped_column(String(32), default="scheduling")
    power_state: Mapped[int] = mapped_column(Integer, default=0)
    # What the agent should make true: running, stopped, paused, suspended, deleted.
    desired_power: Mapped[str] = mapped_column(String(16), default="running")
    # Counters the agent compares with what it last did, so an action runs once.
    reboot_count: Mapped[int] = mapped_column(Integer, default=0)
    reboot_hard: Mapped[bool] = mapped_column(Boolean, default=False)
    rebuild_count: Mapped[int] = mapped_column(Integer, default=0)
    resize_count: Mapped[int] = mapped_column(Integer, default=0)
    snapshot_requests: Mapped[list[Any]] = mapped_column(default=list)
    key_name: Mapped[str | None] = mapped_column(NAME)
    key_data: Mapped[str | None] = mapped_column(Text)
    user_data: Mapped[str | None] = mapped_column(Text)
    config_drive: Mapped[bool] = mapped_column(Boolean, default=False)
    metadata_items: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    security_groups: Mapped[list[Any]] = mapped_column(default=list)
    requested_networks: Mapped[list[Any]] = mapped_column(default=list)
    addresses: Mapped[dict[str, Any]] = mapped_column(default=dict)
    server_group_id: Mapped[str | None] = mapped_column(String(36))
    access_ip_v4: Mapped[str] = mapped_column(String(64), default="")
    access_ip_v6: Mapped[str] = mapped_column(String(64), default="")
    description: Mapped[str | None] = mapped_column(Text)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    locked_reason: Mapped[str | None] = mapped_column(Text)
    fault: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    launch_index: Mapped[int] = mapped_column(Integer, default=0)
    reservation_id: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    launched_at: Mapped[datetime | None] = mapped_column()
    terminated_at: Mapped[datetime | None] = mapped_column()
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[datetime | None] = mapped_column()


class InstanceAction(Base):
    __tablename__ = "compute_instance_actions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(64))
    instance_uuid: Mapped[str] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(ID)
    project_id: Mapped[str] = mapped_column(ID)
    message: Mapped[str | None] = mapped_column(Text)
    start_time: Mapped[datetime] = mapped_column(default=utcnow)


class ServerGroup(Base):
    __tablename__ = "compute_server_groups"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(NAME)
    project_id: Mapped[str] = mapped_column(ID)
    user_id: Mapped[str] = mapped_column(ID)
    policy: Mapped[str] = mapped_column(String(32))
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)


class QuotaLimit(Base):
    """Per-project overrides of the compute default quotas (os-quota-sets)."""

    __tablename__ = "compute_quota_limits"
    project_id: Mapped[str] = mapped_column(ID, primary_key=True)
    # '' for the project's own limit; a user id for nova's per-user quotas.
    user_id: Mapped[str] = mapped_column(ID, primary_key=True, default="")
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    hard_limit: Mapped[int] = mapped_column(Integer)


class ConsoleLog(Base):
    """The tail of an instance's serial console, as its agent last reported it."""

    __tablename__ = "compute_console_logs"
    instance_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    text: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
