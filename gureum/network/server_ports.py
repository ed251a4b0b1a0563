"""What compute asks of the network service for a server: its ports, made or bound, and released.

Everything happens in the caller's session (compute's create or delete transaction), so
a failure leaves nothing behind, as nova's calls to neutron roll back with the build.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gureum.http.context import RequestContext
from gureum.http.errors import Conflict
from gureum.network.floating_ips import disassociate_port
from gureum.network.models import IPAllocation, Port
from gureum.network.ports import create_port_row, get_port_row
from gureum.network.routers import delete_port_row
from gureum.network.security_groups import find_security_group

if TYPE_CHECKING:
    from gureum.network.service import NetworkService


def has_addresses(session: Session, port: Port) -> bool:
    return session.scalar(select(IPAllocation.id).where(IPAllocation.port_id == port.id).limit(1)) is not None


def allocate_ports_for_server(svc: "NetworkService", session: Session, ctx: RequestContext, server_uuid: str,
                              requested_networks: Iterable[dict[str, Any]], security_groups: Iterable[str],
                              host: str) -> list[Port]:
    """Ports for a new server, as nova asks neutron for them.

    `requested_networks` holds nova's entries: {"uuid": network id, "fixed_ip": optional} or
    {"port": existing port id}. Security groups are names or ids of the caller's project.
    Existing ports are bound to the server; new ones are created.
    """
    groups: list[str] = []
    for ref in security_groups:
        sg = find_security_group(session, ctx, ref)
        if sg.id not in groups:
            groups.append(sg.id)
    ports: list[Port] = []
    for entry in requested_networks:
        if entry.get("port"):
            port = get_port_row(session, ctx, entry["port"])
            if port.device_id and port.device_id != server_uuid:
                raise Conflict(f"Port {port.id} is still in use.", kind="PortInUse")
        else:
            attrs: dict[str, Any] = {"network_id": entry["uuid"], "device_owner": "compute:nova"}
            if entry.get("fixed_ip"):
                attrs["fixed_ips"] = [{"ip_address": entry["fixed_ip"]}]
            if groups:
                attrs["security_groups"] = groups
            port = create_port_row(svc, session, ctx, attrs)
            port.auto_delete = True
        port.device_id = server_uuid
        port.device_owner = port.device_owner or "compute:nova"
        port.binding_host_id = host
        port.revision_number += 1
        ports.append(port)
    session.flush()
    return ports


def release_ports_for_server(session: Session, server_uuid: str) -> None:
    """Delete the ports a server create made; unbind the ones the user brought."""
    for port in session.scalars(select(Port).where(Port.device_id == server_uuid)):
        disassociate_port(session, port.id)
        if port.auto_delete:
            delete_port_row(session, port)
        else:
            port.device_id = ""
            port.binding_host_id = ""
            port.status = "DOWN"
            port.revision_number += 1
    session.flush()
