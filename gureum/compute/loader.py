"""Everything a server's view needs besides its row, loaded for a whole page at once.

Host, addresses (ports, fixed and floating IPs, network names), security group
names and attached volumes come in a fixed number of statements whatever the number of servers, so a
page of 500 costs what a page of one does, plus the rows themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gureum.compute import addresses
from gureum.compute.models import Host, Instance


@dataclass(frozen=True)
class ServerShown:
    """One server and what its view shows beside the row."""

    instance: Instance
    host: Host | None
    # None: the server has no ports, so its view shows the groups asked for at create.
    addresses: dict[str, list[dict[str, Any]]] | None
    security_groups: list[str] | None
    # (volume id, delete_on_termination) of each volume attached (os-extended-volumes).
    volumes: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def group_ids(self) -> list[str]:
        return [self.instance.server_group_id] if self.instance.server_group_id else []


def load_servers(session: Session, instances: list[Instance],
                 volumes: dict[str, list[tuple[str, bool]]] | None = None) -> list[ServerShown]:
    """The servers in the given order, each with its host, addresses and groups; `volumes`
    (the volume service's, read for the whole page at once) per server."""
    host_ids = {i.host_id for i in instances if i.host_id is not None}
    hosts = {h.id: h for h in session.scalars(select(Host).where(Host.id.in_(host_ids)))} if host_ids else {}
    ports = addresses.ports_of(session, instances)
    found = addresses.addresses_from_ports(session, ports)
    groups = addresses.group_names_from_ports(session, ports)
    return [ServerShown(instance=i, host=hosts.get(i.host_id) if i.host_id is not None else None,
                        addresses=found.get(i.uuid), security_groups=groups.get(i.uuid),
                        volumes=list((volumes or {}).get(i.uuid, []))) for i in instances]


def load_server(session: Session, instance: Instance,
                volumes: dict[str, list[tuple[str, bool]]] | None = None) -> ServerShown:
    return load_servers(session, [instance], volumes)[0]
