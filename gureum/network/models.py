"""Network tables: networks, subnets, ports and their addresses, security groups, quotas.

Everything the dataplane will need is stored here: the segment of each network
(type, physical network, VNI or VLAN id), each port's MAC, fixed IPs, binding host
and security groups, and each subnet's pools, gateway, DNS servers and routes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gureum.db.base import ID, NAME, Base, new_uuid, utcnow


class StandardAttrs:
    """Neutron's standard attributes: description, timestamps, revision number."""

    description: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    revision_number: Mapped[int] = mapped_column(Integer, default=0)


class Network(StandardAttrs, Base):
    __tablename__ = "network_networks"
    # One network per segment: a VNI (or VLAN id on a physical network) is never given twice.
    # physical_network is '' (never NULL) so the constraint also holds for VXLAN.
    __table_args__ = (UniqueConstraint("network_type", "physical_network", "segmentation_id"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(NAME, default="")
    project_id: Mapped[str] = mapped_column(ID, index=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    external: Mapped[bool] = mapped_column(Boolean, default=False)
    mtu: Mapped[int] = mapped_column(Integer, default=1500)
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    network_type: Mapped[str] = mapped_column(String(16))
    physical_network: Mapped[str] = mapped_column(NAME, default="")
    # VNI for vxlan, VLAN id for vlan, NULL for flat (so several flat networks never clash
    # on NULL; flat ones are kept one per physical network by the service).
    segmentation_id: Mapped[int | None] = mapped_column(Integer)
    availability_zone_hints: Mapped[list[Any]] = mapped_column(default=list)
    # Why the dataplane may not build this network (e.g. vlan without 802.1Q), for operators.
    dataplane_note: Mapped[str | None] = mapped_column(Text)


class Subnet(StandardAttrs, Base):
    __tablename__ = "network_subnets"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(NAME, default="")
    project_id: Mapped[str] = mapped_column(ID, index=True)
    network_id: Mapped[str] = mapped_column(ForeignKey("network_networks.id", ondelete="CASCADE"), index=True)
    ip_version: Mapped[int] = mapped_column(Integer, default=4)
    cidr: Mapped[str] = mapped_column(String(64))
    gateway_ip: Mapped[str | None] = mapped_column(String(64))
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True)
    # [{"start": ..., "end": ...}], in address order, never overlapping.
    allocation_pools: Mapped[list[Any]] = mapped_column(default=list)
    dns_nameservers: Mapped[list[Any]] = mapped_column(default=list)
    # [{"destination": cidr, "nexthop": ip}]
    host_routes: Mapped[list[Any]] = mapped_column(default=list)
    ipv6_ra_mode: Mapped[str | None] = mapped_column(String(16))
    ipv6_address_mode: Mapped[str | None] = mapped_column(String(16))


class Port(StandardAttrs, Base):
    __tablename__ = "network_ports"
    __table_args__ = (UniqueConstraint("network_id", "mac_address"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(NAME, default="")
    project_id: Mapped[str] = mapped_column(ID, index=True)
    network_id: Mapped[str] = mapped_column(ForeignKey("network_networks.id"), index=True)
    mac_address: Mapped[str] = mapped_column(String(32))
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")
    device_id: Mapped[str] = mapped_column(NAME, default="", index=True)
    device_owner: Mapped[str] = mapped_column(NAME, default="")
    port_security_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Security group ids, in the order given.
    security_groups: Mapped[list[Any]] = mapped_column(default=list)
    # [{"ip_address": ip or cidr, "mac_address": mac}]
    allowed_address_pairs: Mapped[list[Any]] = mapped_column(default=list)
    binding_host_id: Mapped[str] = mapped_column(NAME, default="", index=True)
    binding_vnic_type: Mapped[str] = mapped_column(String(32), default="normal")
    binding_profile: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Made by a server create (not brought by the user): deleted with the server.
    auto_delete: Mapped[bool] = mapped_column(Boolean, default=False)


class IPAllocation(Base):
    """One fixed IP of one port; the unique key is what makes IPAM safe under concurrency."""

    __tablename__ = "network_ip_allocations"
    __table_args__ = (UniqueConstraint("subnet_id", "ip_address"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    port_id: Mapped[str] = mapped_column(ForeignKey("network_ports.id", ondelete="CASCADE"), index=True)
    subnet_id: Mapped[str] = mapped_column(ForeignKey("network_subnets.id"), index=True)
    network_id: Mapped[str] = mapped_column(String(36), index=True)
    ip_address: Mapped[str] = mapped_column(String(64))


class SecurityGroup(StandardAttrs, Base):
    __tablename__ = "network_security_groups"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(NAME, default="")
    project_id: Mapped[str] = mapped_column(ID, index=True)
    stateful: Mapped[bool] = mapped_column(Boolean, default=True)


class DefaultSecurityGroup(Base):
    """The `default` group of each project: the primary key keeps it one per project."""

    __tablename__ = "network_default_security_groups"
    project_id: Mapped[str] = mapped_column(ID, primary_key=True)
    security_group_id: Mapped[str] = mapped_column(ForeignKey("network_security_groups.id", ondelete="CASCADE"))


class SecurityGroupRule(StandardAttrs, Base):
    __tablename__ = "network_security_group_rules"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(ID, index=True)
    security_group_id: Mapped[str] = mapped_column(
        ForeignKey("network_security_groups.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(8))
    ethertype: Mapped[str] = mapped_column(String(8), default="IPv4")
    protocol: Mapped[str | None] = mapped_column(String(16))
    port_range_min: Mapped[int | None] = mapped_column(Integer)
    port_range_max: Mapped[int | None] = mapped_column(Integer)
    remote_ip_prefix: Mapped[str | None] = mapped_column(String(64))
    remote_group_id: Mapped[str | None] = mapped_column(String(36))


class Router(StandardAttrs, Base):
    """A router; its legs are ports (device_owner network:router_interface / router_gateway)."""

    __tablename__ = "network_routers"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(NAME, default="")
    project_id: Mapped[str] = mapped_column(ID, index=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    # The external network of external_gateway_info, and the port that holds its addresses.
    gateway_network_id: Mapped[str | None] = mapped_column(String(36), index=True)
    gateway_port_id: Mapped[str | None] = mapped_column(String(36))
    enable_snat: Mapped[bool] = mapped_column(Boolean, default=True)
    # [{"destination": cidr, "nexthop": ip}]
    routes: Mapped[list[Any]] = mapped_column(default=list)
    availability_zone_hints: Mapped[list[Any]] = mapped_column(default=list)
    # The host whose agent builds this router's namespace ('' until one is chosen).
    host: Mapped[str] = mapped_column(NAME, default="", index=True)


class FloatingIP(StandardAttrs, Base):
    """A floating IP; its address is held by a port (device_owner network:floatingip) on the external network."""

    __tablename__ = "network_floating_ips"
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(ID, index=True)
    floating_network_id: Mapped[str] = mapped_column(ForeignKey("network_networks.id"), index=True)
    floating_ip_address: Mapped[str] = mapped_column(String(64))
    floating_port_id: Mapped[str] = mapped_column(String(36))
    # The associated (internal) port, its fixed IP, and the router that does the NAT.
    port_id: Mapped[str | None] = mapped_column(String(36), index=True)
    fixed_ip_address: Mapped[str | None] = mapped_column(String(64))
    router_id: Mapped[str | None] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(16), default="DOWN")


class NetworkAgent(Base):
    """What an operator set on a network agent; the agents themselves are derived from compute hosts."""

    __tablename__ = "network_agents"
    # uuid5 of the host's uuid and the agent type (see gureum/network/agents.py).
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str] = mapped_column(String(255), default="")
    # Set by DELETE: the agent is hidden until its host reports again after this moment, as a
    # deleted neutron agent comes back with its next heartbeat.
    deleted_at: Mapped[datetime | None] = mapped_column()


class NetworkQuota(Base):
    """Per-project overrides of the network default quotas."""

    __tablename__ = "network_quotas"
    project_id: Mapped[str] = mapped_column(ID, primary_key=True)
    resource: Mapped[str] = mapped_column(String(64), primary_key=True)
    hard_limit: Mapped[int] = mapped_column(Integer)
