"""The network service in-process: lists in SQL with a fixed statement count, paging, declared attributes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from gureum.cloud import Cloud
from gureum.config import Settings
from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest, Conflict, Forbidden, NotFound
from gureum.network.listing import ListQuery

PROJECT = "p" * 32
OTHER = "q" * 32


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    cloud = Cloud(Settings(state_dir=tmp_path / "state"))
    cloud.start()
    yield cloud
    cloud.image.stop()
    cloud.close()


def ctx(project_id: str = PROJECT, roles: tuple[str, ...] = ("member", "reader")) -> RequestContext:
    return RequestContext(
        user_id="u", user_name="u", user_domain_id="default", user_domain_name="Default",
        roles=roles, project_id=project_id,
    )


def admin() -> RequestContext:
    return ctx("a" * 32, ("admin", "member", "reader"))


def query(**params: Any) -> ListQuery:
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        for v in value if isinstance(value, list) else [value]:
            pairs.append((key, str(v)))
    return ListQuery.from_params(pairs)


class Statements:
    """Counts the SQL statements the engine runs while active."""

    def __init__(self, cloud: Cloud) -> None:
        self.engines = {id(e): e for e in (cloud.db.engine, cloud.db.read_engine)}.values()
        self.count = 0

    def _count(self, *_args: Any) -> None:
        self.count += 1

    def __enter__(self) -> "Statements":
        for engine in self.engines:
            event.listen(engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *_exc: Any) -> None:
        for engine in self.engines:
            event.remove(engine, "before_cursor_execute", self._count)


def network_with_subnet(cloud: Cloud, cidr: str = "10.0.0.0/16", c: RequestContext | None = None) -> dict[str, Any]:
    c = c or ctx()
    net = cloud.network.create(c, "network", {"name": "n"})
    subnet = cloud.network.create(c, "subnet", {"network_id": net["id"], "cidr": cidr, "ip_version": 4})
    return {"network": net, "subnet": subnet}


def make_ports(cloud: Cloud, network_id: str, count: int, c: RequestContext | None = None) -> list[dict[str, Any]]:
    items = [{"network_id": network_id, "name": f"port-{i:03d}",
              "allowed_address_pairs": [{"ip_address": f"192.168.0.{i % 250 + 1}"}]} for i in range(count)]
    return cloud.network.create_many(c or ctx(), "port", items)


def listed_statements(cloud: Cloud, resource: str, wanted: ListQuery, c: RequestContext | None = None) -> int:
    with Statements(cloud) as counted:
        cloud.network.list(c or ctx(), resource, wanted)
    return counted.count


def test_list_ports_costs_the_same_for_5_and_50_ports(cloud: Cloud) -> None:
    first = network_with_subnet(cloud)
    make_ports(cloud, first["network"]["id"], 5)
    five = listed_statements(cloud, "port", query())
    second = network_with_subnet(cloud, "10.1.0.0/16", ctx(OTHER))
    make_ports(cloud, second["network"]["id"], 50, ctx(OTHER))
    fifty = listed_statements(cloud, "port", query(), ctx(OTHER))
    assert five == fifty, (five, fifty)
    assert 2 <= fifty <= 4
    # The admin sees all 55, still in as many statements.
    items, _ = cloud.network.list(admin(), "port", query())
    assert len(items) == 55 and all(len(p["fixed_ips"]) == 1 for p in items)
    assert listed_statements(cloud, "port", query(), admin()) == five


@pytest.mark.parametrize("resource", ["network", "subnet", "security_group", "security_group_rule"])
def test_other_lists_cost_the_same_for_few_and_many(cloud: Cloud, resource: str) -> None:
    def grow(c: RequestContext, count: int) -> None:
        for i in range(count):
            net = network_with_subnet(cloud, f"10.{i}.0.0/24", c)
            group = cloud.network.create(c, "security_group", {"name": f"g{i}"})
            cloud.network.create(c, "security_group_rule", {
                "security_group_id": group["id"], "direction": "ingress", "protocol": "tcp",
                "port_range_min": 22, "port_range_max": 22})
            assert net

    grow(ctx(), 2)
    few = listed_statements(cloud, resource, query())
    grow(ctx(OTHER), 8)
    many = listed_statements(cloud, resource, query(), ctx(OTHER))
    assert few == many and few >= 1, (resource, few, many)


def test_limit_one_renders_one_row_and_pages_with_markers(cloud: Cloud) -> None:
    net = network_with_subnet(cloud)["network"]
    made = make_ports(cloud, net["id"], 7)
    names = [p["name"] for p in made]
    items, page = cloud.network.list(ctx(), "port", query(limit=1))
    assert [p["name"] for p in items] == names[:1] and page.next_marker == made[0]["id"]
    assert page.previous_marker is None
    seen: list[str] = []
    marker = None
    while True:
        items, page = cloud.network.list(ctx(), "port", query(limit=3, **({"marker": marker} if marker else {})))
        seen += [p["name"] for p in items]
        if marker:
            assert page.previous_marker == items[0]["id"]
        if not page.next_marker:
            break
        marker = page.next_marker
    assert seen == names
    # Backwards from the last one: the three before it, in order.
    items, page = cloud.network.list(ctx(), "port", query(limit=3, marker=made[-1]["id"], page_reverse="True"))
    assert [p["name"] for p in items] == names[-4:-1] and page.next_marker == made[-2]["id"]


def test_sort_and_filter_in_sql(cloud: Cloud) -> None:
    net = network_with_subnet(cloud)["network"]
    made = make_ports(cloud, net["id"], 6)
    items, _ = cloud.network.list(ctx(), "port", query(sort_key="name", sort_dir="desc"))
    assert [p["name"] for p in items] == sorted((p["name"] for p in made), reverse=True)
    # Keyset paging follows the sort.
    items, page = cloud.network.list(ctx(), "port", query(sort_key="name", sort_dir="desc", limit=2))
    after, _ = cloud.network.list(ctx(), "port", query(sort_key="name", sort_dir="desc", limit=2,
                                                       marker=page.next_marker))
    assert [p["name"] for p in items + after] == sorted((p["name"] for p in made), reverse=True)[:4]
    # Repeated keys: any of them. Unknown keys are ignored, booleans in any case.
    items, _ = cloud.network.list(ctx(), "port", query(name=["port-001", "port-004"], color="blue",
                                                       admin_state_up="TRUE"))
    assert sorted(p["name"] for p in items) == ["port-001", "port-004"]
    address = made[2]["fixed_ips"][0]["ip_address"]
    items, _ = cloud.network.list(ctx(), "port", query(fixed_ips=f"ip_address={address}"))
    assert [p["id"] for p in items] == [made[2]["id"]]
    group = made[0]["security_groups"][0]
    items, _ = cloud.network.list(ctx(), "port", query(security_groups=group))
    assert len(items) == 6
    items, _ = cloud.network.list(ctx(), "network", query(**{"router:external": "false", "shared": "False"}))
    assert [n["id"] for n in items] == [net["id"]]
    items, _ = cloud.network.list(ctx(), "subnet", query(gateway_ip="10.0.0.1", tags="x"))
    assert items == []
    # A member may not see bindings, so cannot filter on them (ignored, as before).
    items, _ = cloud.network.list(ctx(), "port", query(**{"binding:host_id": "somewhere"}))
    assert len(items) == 6 and "binding:host_id" not in items[0]
    items, _ = cloud.network.list(admin(), "port", query(**{"binding:host_id": "somewhere"}))
    assert items == []


def test_attribute_tables_check_bodies_and_policy(cloud: Cloud) -> None:
    made = network_with_subnet(cloud)
    net = made["network"]
    with pytest.raises(BadRequest, match="Attribute 'status' not allowed in POST"):
        cloud.network.create(ctx(), "network", {"status": "DOWN", "colour": "red"})
    with pytest.raises(BadRequest, match="Unrecognized attribute\\(s\\) 'colour'"):
        cloud.network.create(ctx(), "network", {"colour": "red"})
    with pytest.raises(BadRequest, match="Attribute 'network_id' not allowed in PUT"):
        cloud.network.update(ctx(), "subnet", made["subnet"]["id"], {"network_id": "y"})
    with pytest.raises(Forbidden, match="create_network:shared"):
        cloud.network.create(ctx(), "network", {"shared": True})
    # The default is not "set": no policy check.
    assert cloud.network.create(ctx(), "network", {"shared": False})["shared"] is False
    with pytest.raises(Forbidden, match="create_port:binding:host_id"):
        cloud.network.create(ctx(), "port", {"network_id": net["id"], "binding:host_id": "h"})
    port = cloud.network.create(admin(), "port", {"network_id": net["id"], "binding:host_id": "h"})
    assert port["binding:host_id"] == "h" and port["binding:vif_type"] == "tap"
    # The plain update loop: converted values, nulls where neutron takes them.
    changed = cloud.network.update(ctx(), "network", net["id"], {"name": "renamed", "admin_state_up": "false"})
    assert (changed["name"], changed["admin_state_up"]) == ("renamed", False)
    with pytest.raises(BadRequest, match="admin_state_up"):
        cloud.network.update(ctx(), "network", net["id"], {"admin_state_up": "maybe"})
    with pytest.raises(NotFound):
        cloud.network.show(ctx(OTHER), "network", net["id"])


def test_dhcp_port_goes_with_its_subnet_in_one_transaction(cloud: Cloud) -> None:
    made = network_with_subnet(cloud)
    dhcp = cloud.network.create(admin(), "port", {"network_id": made["network"]["id"], "device_owner": "network:dhcp",
                                                  "project_id": PROJECT})
    user = cloud.network.create(ctx(), "port", {"network_id": made["network"]["id"]})
    with pytest.raises(Conflict, match="SubnetInUse|One or more ports"):
        cloud.network.delete(ctx(), "subnet", made["subnet"]["id"])
    assert cloud.network.show(admin(), "port", dhcp["id"])["fixed_ips"]
    cloud.network.delete(ctx(), "port", user["id"])
    before = cloud.network.revision.current()
    cloud.network.delete(ctx(), "subnet", made["subnet"]["id"])
    assert cloud.network.revision.current() > before
    with pytest.raises(NotFound):
        cloud.network.show(admin(), "port", dhcp["id"])
    cloud.network.create(admin(), "port", {"network_id": made["network"]["id"], "device_owner": "network:dhcp",
                                           "project_id": PROJECT})
    cloud.network.delete(ctx(), "network", made["network"]["id"])


def test_quota_usage_in_one_statement(cloud: Cloud) -> None:
    network_with_subnet(cloud)
    with Statements(cloud) as counted:
        details = cloud.network.quotas(admin(), "details", PROJECT)
    assert details["network"]["used"] == 1 and details["subnet"]["used"] == 1
    assert counted.count <= 3
    with pytest.raises(Forbidden):
        cloud.network.quotas(ctx(), "update", PROJECT, {"network": 5})


def test_compute_share_still_works(cloud: Cloud) -> None:
    made = network_with_subnet(cloud)
    with cloud.db.session() as s:
        ports = cloud.network.allocate_ports_for_server(
            s, ctx(), "server-1", [{"uuid": made["network"]["id"]}], ["default"], host="h1")
        assert ports[0].device_id == "server-1" and cloud.network.has_addresses(s, ports[0])
        group = cloud.network.find_security_group(s, ctx(), "default")
        assert cloud.network.sg_view(s, group)["name"] == "default"
        port = cloud.network.update_port(s, ctx(), ports[0].id, {"security_groups": []})
        assert port.security_groups == []
    with cloud.db.session() as s:
        cloud.network.release_ports_for_server(s, "server-1")
    items, _ = cloud.network.list(ctx(), "port", query())
    assert items == []


def test_routers_and_floating_ips_list_in_sql_too(cloud: Cloud) -> None:
    def routers(c: RequestContext, count: int) -> None:
        for i in range(count):
            router = cloud.network.create(c, "router", {"name": f"r{i}"})
            changed = cloud.network.update(c, "router", router["id"], {"name": f"renamed-{i}", "admin_state_up": "0"})
            assert (changed["name"], changed["admin_state_up"]) == (f"renamed-{i}", False)

    routers(ctx(), 2)
    few = listed_statements(cloud, "router", query())
    routers(ctx(OTHER), 8)
    assert listed_statements(cloud, "router", query(), ctx(OTHER)) == few
    items, page = cloud.network.list(ctx(OTHER), "router", query(sort_key="name", limit=3))
    assert [r["name"] for r in items] == ["renamed-0", "renamed-1", "renamed-2"] and page.next_marker
    assert listed_statements(cloud, "floatingip", query()) == listed_statements(cloud, "floatingip", query(), admin())
