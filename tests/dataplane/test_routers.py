"""Routers: SNAT to the outside, floating IPs reachable from it, over a mapped external bridge."""

from __future__ import annotations

import dataclasses

from gureum.agent.protocol import DesiredFloatingIp, DesiredNetworking, DesiredRule
from tests.dataplane.helpers import World, group, leg, network, port, router


def test_snat_to_the_outside_and_a_floating_ip_reachable_from_it(world: World) -> None:
    host = world.host()
    world.bridge(host, "br-ex")
    outside = world.outside(host, "203.0.113.1/24")
    outside.serve_tcp(7000, "outside")
    external = network("203.0.113.0/24", network_type="flat", physical_network="external", dhcp_ip=None,
                       mtu=1500)
    tenant = network("10.20.0.0/24", vni=120)
    web = group(DesiredRule("ingress", protocol="tcp", port_range_min=5000, port_range_max=5000), group_id="web")
    guest_port = port(tenant, "10.20.0.5", groups=[web.id])
    the_router = router(gateway=leg(external, "203.0.113.10"), interfaces=[leg(tenant, "10.20.0.1")],
                        gateway_nexthop="203.0.113.1")
    dataplane = world.dataplane(host)
    guest = world.guest(guest_port, host)
    desired = DesiredNetworking(networks=[external, tenant], ports=[guest_port], security_groups=[web],
                                routers=[the_router])

    seen = dataplane.apply(desired)

    assert seen.errors == {}
    assert {the_router.gateway.port_id, the_router.interfaces[0].port_id} <= set(seen.ports_up)
    guest.configure(guest.dhcp())
    # SNAT: the outside sees the router's gateway address.
    assert guest.connect("203.0.113.1", 7000) == "outside 203.0.113.10"
    guest.serve_tcp(5000, "guest")
    assert outside.connect("203.0.113.10", 5000, timeout=1) is None  # no way in without a floating IP

    floating = DesiredFloatingIp(id="fip-1", floating_ip="203.0.113.20", fixed_ip="10.20.0.5", port_id=guest_port.id)
    with_fip = dataclasses.replace(desired, routers=[dataclasses.replace(the_router, floating_ips=[floating])])
    seen = dataplane.apply(with_fip)
    assert seen.errors == {}
    assert seen.floating_ips_up == ["fip-1"]
    assert outside.connect("203.0.113.20", 5000) == "guest 203.0.113.1"
    assert guest.connect("203.0.113.1", 7000) == "outside 203.0.113.20"  # leaves as its floating IP

    # Floating IPs need no router SNAT; without a floating IP nothing leaves translated.
    no_snat = dataclasses.replace(the_router, floating_ips=[floating], enable_snat=False)
    dataplane.apply(dataclasses.replace(desired, routers=[no_snat]))
    assert outside.connect("203.0.113.20", 5000) == "guest 203.0.113.1"
    dataplane.apply(dataclasses.replace(desired, routers=[dataclasses.replace(the_router, enable_snat=False)]))
    assert outside.connect("203.0.113.20", 5000, timeout=1) is None
    assert guest.connect("203.0.113.1", 7000, timeout=1) is None  # 10.20.0.5 is not routable outside

    # Static routes are the router's too, and go when they are no longer asked for.
    routed = dataclasses.replace(the_router, routes=[{"destination": "198.51.100.0/24", "nexthop": "203.0.113.1"}])
    dataplane.apply(dataclasses.replace(desired, routers=[routed]))
    namespace = f"{world.prefix}qrouter-{the_router.id}"
    assert "198.51.100.0/24 via 203.0.113.1" in _routes(namespace)
    dataplane.apply(desired)
    assert "198.51.100.0/24" not in _routes(namespace)

    # A router no longer desired goes with its namespace and its legs.
    dataplane.apply(dataclasses.replace(desired, routers=[]))
    assert not any(name.endswith(the_router.id) for name in _namespaces())


def test_an_unmapped_external_network_is_an_error_that_names_the_mapping(world: World) -> None:
    external = network("203.0.113.0/24", network_type="flat", physical_network="public", dhcp_ip=None)
    tenant = network("10.21.0.0/24", vni=121)
    the_router = router(gateway=leg(external, "203.0.113.10"), interfaces=[leg(tenant, "10.21.0.1")],
                        gateway_nexthop="203.0.113.1")
    dataplane = world.dataplane()

    seen = dataplane.apply(DesiredNetworking(networks=[external, tenant], routers=[the_router]))

    assert "public" in seen.errors[external.id] and "bridge_mappings" in seen.errors[external.id]
    assert external.id in seen.errors[the_router.id]
    assert tenant.id not in seen.errors  # the rest is built
    assert the_router.interfaces[0].port_id in seen.ports_up


def _routes(namespace: str) -> str:
    import subprocess
    return subprocess.run(["ip", "-n", namespace, "route"], capture_output=True, text=True, check=True).stdout


def _namespaces() -> list[str]:
    import os
    return os.listdir("/run/netns")
