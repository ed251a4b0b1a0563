"""A server's ports and addresses: what compute asks of the network service.

The instance keeps its requested networks with the port each one got, in the
order asked (that order is the guest's NIC order). Addresses are read from the
ports and floating IPs when shown, never copied, so a floating IP associated
through the networking API appears on the server at once.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gureum.agent.protocol import DesiredNic
from gureum.compute.models import Instance
from gureum.http.context import RequestContext
from gureum.http.errors import Conflict
from gureum.network.models import FloatingIP, IPAllocation, Network, Port, SecurityGroup


def resolve_networks(session: Session, ctx: RequestContext, requested: Any) -> list[dict[str, Any]]:
    """Nova's `networks`: a list as given, 'none', or 'auto' (the one network the project can use)."""
    if isinstance(requested, list):
        return [dict(entry) for entry in requested]
    if requested == "none":
        return []
    usable = list(session.scalars(select(Network.id).where(
        Network.external.is_(False),
        (Network.project_id == ctx.project_id) | Network.shared.is_(True),
    ).order_by(Network.created_at)))
    if len(usable) > 1:
        raise Conflict("Multiple possible networks found, use a Network ID to be more specific.",
                       kind="NetworkAmbiguous")
    # No network at all: the server boots without a NIC, as it would with networks 'none'.
    return [{"uuid": usable[0]}] if usable else []


def allocate_ports(session: Session, cloud: Any, ctx: RequestContext, instance: Instance,
                   networks: list[dict[str, Any]]) -> None:
    """Make (or bind) the instance's ports and remember which entry got which port."""
    if not networks:
        instance.requested_networks = []
        return
    # Errors (no such network, address taken, quota) leave the network service as ApiErrors
    # that the compute API renders in Nova's body; the whole create rolls back with them.
    ports = cloud.network.allocate_ports_for_server(
        session, ctx, instance.uuid, networks, instance.security_groups or ["default"], host="")
    instance.requested_networks = [
        {**entry, "port": port.id, "network_id": port.network_id} for entry, port in zip(networks, ports)
    ]


def bind_ports(session: Session, instance: Instance, hostname: str) -> None:
    for port in _ports(session, [instance]).get(instance.uuid, []):
        port.binding_host_id = hostname


def _port_ids(instance: Instance) -> list[str]:
    return [entry["port"] for entry in instance.requested_networks or [] if isinstance(entry, dict) and entry.get("port")]


def _ports(session: Session, instances: list[Instance]) -> dict[str, list[Port]]:
    """Each instance's ports in NIC order."""
    wanted = {i.uuid: _port_ids(i) for i in instances}
    ids = [p for ports in wanted.values() for p in ports]
    if not ids:
        return {}
    rows = {p.id: p for p in session.scalars(select(Port).where(Port.id.in_(ids)))}
    return {uuid: [rows[p] for p in port_ids if p in rows and rows[p].device_id == uuid]
            for uuid, port_ids in wanted.items()}


def server_ports(session: Session, instance: Instance) -> list[Port]:
    """The instance's ports (those still bound to it), in NIC order."""
    return _ports(session, [instance]).get(instance.uuid, [])


def ports_of(session: Session, instances: list[Instance]) -> dict[str, list[Port]]:
    """Each instance's ports (those still bound to it) in NIC order: one statement."""
    return _ports(session, instances)


def security_group_names(session: Session, instances: list[Instance]) -> dict[str, list[str]]:
    """The groups on each instance's ports, as Nova shows them: names (an id when unnamed), once each.

    Only instances with ports are in the answer; for the others the groups asked for at
    create are all there is to show.
    """
    return group_names_from_ports(session, _ports(session, instances))


def group_names_from_ports(session: Session, ports: dict[str, list[Port]]) -> dict[str, list[str]]:
    ports_by_instance = {uuid: found for uuid, found in ports.items() if found}
    ids = {sg for found in ports_by_instance.values() for p in found for sg in p.security_groups or []}
    names = dict(session.execute(select(SecurityGroup.id, SecurityGroup.name).where(SecurityGroup.id.in_(ids))).all()) \
        if ids else {}
    result: dict[str, list[str]] = {}
    for uuid, found in ports_by_instance.items():
        # A group deleted behind the port's back (or not visible) is not shown, as in Nova.
        shown = [names[sg] or sg for p in found for sg in p.security_groups or [] if sg in names]
        result[uuid] = list(dict.fromkeys(shown))
    return result


def nics(session: Session, ports_by_instance: dict[str, list[Port]]) -> dict[str, list[DesiredNic]]:
    """Each guest's NICs for its ports (ports_of: in NIC order): two statements for any number."""
    all_ports = [p for found in ports_by_instance.values() for p in found]
    if not all_ports:
        return {uuid: [] for uuid in ports_by_instance}
    fixed = _fixed(session, [p.id for p in all_ports])
    mtu = dict(session.execute(select(Network.id, Network.mtu).where(
        Network.id.in_({p.network_id for p in all_ports}))).all())
    return {uuid: [DesiredNic(port_id=p.id, mac=p.mac_address, network_id=p.network_id, mtu=mtu.get(p.network_id),
                              fixed_ips=fixed.get(p.id, [])) for p in found]
            for uuid, found in ports_by_instance.items()}


def fixed_ips_of(session: Session, instances: list[Instance]) -> dict[str, list[str]]:
    """Each instance's fixed addresses, in NIC order: two statements for any number of them."""
    ports = _ports(session, instances)
    fixed = _fixed(session, [p.id for found in ports.values() for p in found])
    return {uuid: [a for p in found for a in fixed.get(p.id, [])] for uuid, found in ports.items()}


def _fixed(session: Session, port_ids: list[str]) -> dict[str, list[str]]:
    by_port: dict[str, list[str]] = defaultdict(list)
    for port_id, address in session.execute(select(IPAllocation.port_id, IPAllocation.ip_address).where(
            IPAllocation.port_id.in_(port_ids)).order_by(IPAllocation.id)):
        by_port[port_id].append(address)
    return by_port


def addresses_of(session: Session, instances: list[Instance]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Nova's `addresses` for each instance: network name -> fixed then floating addresses."""
    return addresses_from_ports(session, _ports(session, instances))


def addresses_from_ports(session: Session, ports_by_instance: dict[str, list[Port]]
                         ) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """`addresses` from the instances' ports: three statements for any number of them."""
    all_ports = [p for ports in ports_by_instance.values() for p in ports]
    if not all_ports:
        return {}
    ids = [p.id for p in all_ports]
    fixed = _fixed(session, ids)
    floating: dict[str, list[str]] = defaultdict(list)
    for port_id, address in session.execute(select(FloatingIP.port_id, FloatingIP.floating_ip_address).where(
            FloatingIP.port_id.in_(ids))):
        floating[port_id].append(address)
    names = dict(session.execute(select(Network.id, Network.name).where(
        Network.id.in_({p.network_id for p in all_ports}))).all())
    result: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for uuid, ports in ports_by_instance.items():
        addresses: dict[str, list[dict[str, Any]]] = {}
        for port in ports:
            entries = addresses.setdefault(names.get(port.network_id) or port.network_id, [])
            for kind, values in (("fixed", fixed.get(port.id, [])), ("floating", floating.get(port.id, []))):
                for address in values:
                    entries.append({"version": 6 if ":" in address else 4, "addr": address,
                                    "OS-EXT-IPS:type": kind, "OS-EXT-IPS-MAC:mac_addr": port.mac_address})
        result[uuid] = addresses
    return result
