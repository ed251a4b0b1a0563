"""What a guest is told about itself: Nova's network_data.json and the config drive as asked."""

from __future__ import annotations

from pathlib import Path

from gureum.cloud import Cloud
from gureum.compute.boot import ServerRequest
from gureum.compute.models import Host
from gureum.db.base import utcnow
from tests.compute.test_service import boot_image, cloud, ctx, flavor_id  # noqa: F401  (cloud: fixture)


def host(cloud: Cloud) -> str:
    with cloud.db.session() as s:
        s.add(Host(hostname="node-1", vcpus=8, memory_mb=8192, disk_gb=100, desired_revision=1,
                   last_seen_at=utcnow()))
    return "node-1"


def two_networks(cloud: Cloud) -> tuple[str, str]:
    """One subnet with DHCP and DNS servers; one static, with a gateway and an extra route."""
    dhcp = cloud.network.create(ctx(), "network", {"name": "dhcp-net"})
    cloud.network.create(ctx(), "subnet", {"network_id": dhcp["id"], "cidr": "10.1.0.0/24", "ip_version": 4,
                                           "dns_nameservers": ["192.0.2.53", "192.0.2.54"]})
    static = cloud.network.create(ctx(), "network", {"name": "static-net"})
    cloud.network.create(ctx(), "subnet", {
        "network_id": static["id"], "cidr": "10.2.0.0/24", "ip_version": 4, "enable_dhcp": False,
        "gateway_ip": "10.2.0.1", "dns_nameservers": ["192.0.2.53"],
        "host_routes": [{"destination": "172.16.0.0/16", "nexthop": "10.2.0.254"}]})
    return dhcp["id"], static["id"]


def boot(cloud: Cloud, tmp_path: Path, name: str, **changes: object) -> str:
    request = ServerRequest(name=name, image_id=boot_image(cloud, tmp_path), flavor_ref=flavor_id("t2.nano"),
                            **changes)  # type: ignore[arg-type]
    return cloud.compute.create_servers(ctx(), request)[0][0].uuid


def desired(cloud: Cloud, hostname: str, uuid: str):  # noqa: ANN201
    return next(i for i in cloud.compute.desired_state(hostname).instances if i.uuid == uuid)


def test_network_data_has_a_link_per_port_dhcp_or_static_networks_and_dns(cloud: Cloud, tmp_path: Path) -> None:
    hostname = host(cloud)
    dhcp_net, static_net = two_networks(cloud)
    uuid = boot(cloud, tmp_path, "two-nics", networks=[{"uuid": dhcp_net}, {"uuid": static_net,
                                                                            "fixed_ip": "10.2.0.10"}])
    want = desired(cloud, hostname, uuid)
    first, second = want.nics
    assert first.mtu and second.mtu  # the networks' own, as the guest's NICs get them
    document = want.network_data
    assert document["links"] == [
        {"id": "tap" + first.port_id[:11], "vif_id": first.port_id, "type": "bridge", "mtu": first.mtu,
         "ethernet_mac_address": first.mac},
        {"id": "tap" + second.port_id[:11], "vif_id": second.port_id, "type": "bridge", "mtu": second.mtu,
         "ethernet_mac_address": second.mac},
    ]
    assert document["networks"] == [
        {"id": "network0", "type": "ipv4_dhcp", "link": "tap" + first.port_id[:11], "network_id": dhcp_net},
        {"id": "network1", "type": "ipv4", "link": "tap" + second.port_id[:11], "network_id": static_net,
         "ip_address": "10.2.0.10", "netmask": "255.255.255.0",
         "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.2.0.1"},
                    {"network": "172.16.0.0", "netmask": "255.255.0.0", "gateway": "10.2.0.254"}],
         "services": [{"type": "dns", "address": "192.0.2.53"}]},
    ]
    # Every subnet's DNS servers, once each, in the order met.
    assert document["services"] == [{"type": "dns", "address": "192.0.2.53"},
                                    {"type": "dns", "address": "192.0.2.54"}]


def test_a_server_without_ports_is_told_it_has_no_networks(cloud: Cloud, tmp_path: Path) -> None:
    hostname = host(cloud)
    uuid = boot(cloud, tmp_path, "no-nics", networks="none")
    assert desired(cloud, hostname, uuid).network_data == {"links": [], "networks": [], "services": []}


def test_config_drive_by_default_and_none_when_asked_false(cloud: Cloud, tmp_path: Path) -> None:
    hostname = host(cloud)
    default = boot(cloud, tmp_path, "default", networks="none")
    off = boot(cloud, tmp_path, "off", networks="none", config_drive=False)
    on = boot(cloud, tmp_path, "on", networks="none", config_drive=True)
    assert desired(cloud, hostname, default).config_drive is True
    assert desired(cloud, hostname, off).config_drive is False
    assert desired(cloud, hostname, on).config_drive is True


def test_desired_state_reads_every_guests_nics_and_network_data_in_a_fixed_number_of_statements(
        cloud: Cloud, tmp_path: Path) -> None:
    from sqlalchemy import event  # noqa: PLC0415

    hostname = host(cloud)
    dhcp_net, static_net = two_networks(cloud)
    cloud.compute.desired_state(hostname)  # first reads (revision counters) out of the count
    seen: list[str] = []
    for engine in {id(e): e for e in (cloud.db.engine, cloud.db.read_engine)}.values():
        event.listen(engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    counts = []
    for n in range(2):
        for m in range(1 + 3 * n):  # one server, then three more
            boot(cloud, tmp_path, f"many-{n}-{m}", networks=[{"uuid": dhcp_net}, {"uuid": static_net}])
        seen.clear()
        state = cloud.compute.desired_state(hostname)
        assert all(len(i.nics) == 2 and len(i.network_data["links"]) == 2 for i in state.instances)
        counts.append(len([s for s in seen if s.lstrip().upper().startswith("SELECT")]))
    assert counts[0] == counts[1], counts
