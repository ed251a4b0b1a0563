"""Network agents: four per registered host, alive with the host's heartbeat, as the CLI shows them."""

from __future__ import annotations

import socket

from gureum.testing import RunningCloud, wait_for
from tests.network.helpers import call, member_token, ok, router

AGENT_TYPES = {"Linux bridge agent": "neutron-linuxbridge-agent", "DHCP agent": "neutron-dhcp-agent",
               "L3 agent": "neutron-l3-agent", "Metadata agent": "neutron-metadata-agent"}


def registered_agents(cloud: RunningCloud) -> list[dict]:
    """The agents of the cloud's own host (other tests register simulated hosts that fall silent)."""
    def live() -> list[dict]:
        return [a for a in ok(cloud, "GET", "/v2.0/agents")["agents"] if a["host"] == socket.gethostname()]

    return wait_for(live, 120, 1, "the host's agent to register")


def test_agents_of_a_host(cloud: RunningCloud, member_env: dict[str, str]) -> None:
    agents = registered_agents(cloud)
    host = agents[0]["host"]
    mine = {a["agent_type"]: a for a in agents if a["host"] == host}
    assert {t: a["binary"] for t, a in mine.items()} == AGENT_TYPES
    assert all(a["alive"] and a["admin_state_up"] for a in mine.values())
    assert mine["Linux bridge agent"]["configurations"]["tunnel_types"] == ["vxlan"]
    assert mine["L3 agent"]["availability_zone"] == "nova" and mine["Metadata agent"]["availability_zone"] is None
    # The CLI shows a live agent as ':-)' and filters by type and host.
    table = cloud.openstack("network", "agent", "list", "--host", host, "-c", "Agent Type", "-c", "Alive").stdout
    rows = [line for line in table.splitlines() if "agent" in line]
    assert len(rows) == 4 and all(":-)" in line for line in rows), table
    l3 = cloud.openstack_json("network", "agent", "list", "--agent-type", "l3")
    assert [r["ID"] for r in l3 if r["Host"] == host] == [mine["L3 agent"]["id"]]
    assert ok(cloud, "GET", "/v2.0/agents?binary=neutron-dhcp-agent&alive=True")["agents"][0]["agent_type"] == \
        "DHCP agent"
    # Ids are stable: the same agent answers by id.
    shown = ok(cloud, "GET", f"/v2.0/agents/{mine['DHCP agent']['id']}")["agent"]
    assert shown["id"] == mine["DHCP agent"]["id"] and shown["host"] == host
    # Not for project members: an empty list, 403 or 404 on one agent.
    token = member_token(cloud, member_env)
    assert ok(cloud, "GET", "/v2.0/agents", token=token)["agents"] == []
    status, err = call(cloud, "GET", f"/v2.0/agents/{shown['id']}", token=token)
    assert status == 403 and err["NeutronError"]["type"] == "PolicyNotAuthorized"


def test_update_and_delete_agent(cloud: RunningCloud) -> None:
    agents = registered_agents(cloud)
    l3 = next(a for a in agents if a["agent_type"] == "L3 agent")
    cloud.openstack("network", "agent", "set", "--disable", "--description", "maintenance", l3["id"])
    shown = cloud.openstack_json("network", "agent", "show", l3["id"])
    assert shown["admin_state_up"] is False and shown["description"] == "maintenance"
    for body in ({"agent": {"host": "x"}}, {"agent": {"admin_state_up": "maybe"}}, {"agent": {"bogus": 1}}, {}):
        status, err = call(cloud, "PUT", f"/v2.0/agents/{l3['id']}", body)
        assert status == 400, (body, status, err)
    ok(cloud, "PUT", f"/v2.0/agents/{l3['id']}", {"agent": {"admin_state_up": True, "description": ""}})
    assert call(cloud, "GET", "/v2.0/agents/no-such-agent")[0] == 404
    # The routers an L3 agent hosts, and the L3 agents of a router: lists, never errors.
    r = router(cloud)
    assert isinstance(ok(cloud, "GET", f"/v2.0/agents/{l3['id']}/l3-routers")["routers"], list)
    assert isinstance(ok(cloud, "GET", f"/v2.0/routers/{r['id']}/l3-agents")["agents"], list)
    ok(cloud, "DELETE", f"/v2.0/routers/{r['id']}")
    # A deleted agent is gone until its host reports again (every 10 s), as in neutron.
    metadata = next(a for a in agents if a["agent_type"] == "Metadata agent")
    beat = ok(cloud, "GET", f"/v2.0/agents/{metadata['id']}")["agent"]["heartbeat_timestamp"]
    ok(cloud, "DELETE", f"/v2.0/agents/{metadata['id']}")
    status, body = call(cloud, "GET", f"/v2.0/agents/{metadata['id']}")
    # Gone, unless the host's report landed between the two calls (a loaded CI machine).
    assert status == 404 or body["agent"]["heartbeat_timestamp"] != beat, (status, body)
    wait_for(lambda: call(cloud, "GET", f"/v2.0/agents/{metadata['id']}")[0] == 200, 60, 1,
             "the deleted agent to come back with the next heartbeat")
