"""Images, networks, routers, floating IPs, security groups, key pairs, API access, topology:
each page through TestClient against a real in-process cloud, the HTML asserted."""

from __future__ import annotations

import hashlib
import re

import pytest
import yaml
from starlette.testclient import TestClient

from tests.dashboard.conftest import ORIGIN, Site, csrf_of
from tests.dashboard.helpers import api, network, token


@pytest.fixture(scope="module")
def tok(site: Site) -> str:
    return token(site.client(), "admin", site.admin_password)


def post(client: TestClient, path: str, page: str, **data: str) -> object:
    return client.post(path, headers={"Origin": ORIGIN}, data={"csrf_token": csrf_of(client.get(page).text), **data})


def test_image_upload_through_the_page(admin: TestClient) -> None:
    page = admin.get("/dashboard/images/").text
    csrf = csrf_of(page)
    made = admin.post("/dashboard/images/", data={"name": "from-browser", "disk_format": "raw", "visibility": "private"},
                      headers={"Origin": ORIGIN, "X-CSRF-Token": csrf, "Accept": "application/json"})
    assert made.status_code == 200, made.text
    upload_url = made.json()["upload_url"]
    data = bytes(range(256)) * 4096  # 1 MiB
    sent = admin.put(upload_url, content=data, headers={"Origin": ORIGIN, "X-CSRF-Token": csrf,
                                                         "Content-Type": "application/octet-stream"})
    assert sent.status_code == 204, sent.text
    listing = admin.get("/dashboard/images/").text
    row = re.search(r"<tr><th scope=\"row\">from-browser</th>(.*?)</tr>", listing, re.S).group(1)
    assert ">active<" in row and "1.0 MiB" in row
    # Without the CSRF header the bytes are refused and nothing is stored.
    again = admin.post("/dashboard/images/", data={"name": "second", "disk_format": "raw"},
                       headers={"Origin": ORIGIN, "X-CSRF-Token": csrf, "Accept": "application/json"}).json()
    refused = admin.put(again["upload_url"], content=b"x", headers={"Origin": ORIGIN})
    assert refused.status_code == 403
    assert ">queued<" in admin.get("/dashboard/images/").text


def test_image_form_errors_name_the_field(admin: TestClient) -> None:
    answer = post(admin, "/dashboard/images/", "/dashboard/images/", name="", disk_format="floppy", min_ram="lots")
    assert answer.status_code == 400
    for name in ("name", "disk_format", "min_ram"):
        assert f'id="e-{name}"' in answer.text
    assert 'value="lots"' in answer.text


def test_network_with_subnet_and_bad_cidr(admin: TestClient, tok: str) -> None:
    bad = post(admin, "/dashboard/networks/", "/dashboard/networks/", name="typo-net", cidr="10.300.0.0/24")
    assert bad.status_code == 400 and 'id="e-cidr"' in bad.text and 'value="typo-net"' in bad.text
    assert not api(admin, tok, "GET", "/network/v2.0/networks", params={"name": "typo-net"})["networks"]
    made = post(admin, "/dashboard/networks/", "/dashboard/networks/", name="blue", cidr="10.21.0.0/24",
                enable_dhcp="on")
    assert made.status_code == 303
    listing = admin.get(made.headers["location"]).text
    assert "Made network blue" in listing
    assert re.search(r'<th scope="row">blue</th>\s*<td><span class="addr">10.21.0.0/24</span>', listing)


def test_router_with_gateway_and_interface(admin: TestClient, tok: str) -> None:
    ext = api(admin, tok, "POST", "/network/v2.0/networks", json={"network": {
        "name": "public", "router:external": True}})["network"]
    api(admin, tok, "POST", "/network/v2.0/subnets", json={"subnet": {
        "network_id": ext["id"], "cidr": "203.0.113.0/24", "ip_version": 4, "name": "public-v4"}})
    net = network(admin, tok, "green", "10.22.0.0/24")
    subnet = api(admin, tok, "GET", "/network/v2.0/subnets", params={"network_id": net})["subnets"][0]
    page = admin.get("/dashboard/routers/").text
    assert re.search(rf'<option value="{ext["id"]}" selected>public</option>', page)  # the only external network
    made = post(admin, "/dashboard/routers/", "/dashboard/routers/", name="edge", external=ext["id"],
                subnet=subnet["id"])
    assert made.status_code == 303
    listing = admin.get("/dashboard/routers/").text
    row = re.search(r'<th scope="row">edge</th>(.*?)</tr>', listing, re.S).group(1)
    assert "public" in row and "203.0.113." in row and "10.22.0.0/24" in row


def test_floating_ip_allocate_and_associate(admin: TestClient, tok: str) -> None:
    ext = api(admin, tok, "GET", "/network/v2.0/networks", params={"name": "public"})["networks"][0]
    green = api(admin, tok, "GET", "/network/v2.0/networks", params={"name": "green"})["networks"][0]
    port = api(admin, tok, "POST", "/network/v2.0/ports", json={"port": {"network_id": green["id"],
                                                                          "name": "web-port"}})["port"]
    made = post(admin, "/dashboard/floating-ips/", "/dashboard/floating-ips/", network=ext["id"])
    assert made.status_code == 303 and "Allocated" in admin.get(made.headers["location"]).text
    fip = api(admin, tok, "GET", "/network/v2.0/floatingips")["floatingips"][0]
    linked = post(admin, "/dashboard/floating-ips/associate", "/dashboard/floating-ips/",
                  server_id="x", port=port["id"], floating_ip=fip["id"])
    assert linked.status_code == 303 and "now points at the instance" in linked.headers["location"].replace("%20", " ")
    listing = admin.get("/dashboard/floating-ips/").text
    assert fip["floating_ip_address"] in listing and port["fixed_ips"][0]["ip_address"] in listing
    assert "Disassociate" in listing
    missing = post(admin, "/dashboard/floating-ips/associate", "/dashboard/floating-ips/", server_id="x",
                   port="", floating_ip=fip["id"])
    assert "field%20%27port%27" in missing.headers["location"]


def test_security_group_presets(admin: TestClient, tok: str) -> None:
    page = admin.get("/dashboard/security-groups/").text
    group_id = re.search(r'action="/dashboard/security-groups/([0-9a-f-]+)/rules"', page).group(1)
    for preset in ("ssh", "icmp", "web"):
        answer = post(admin, f"/dashboard/security-groups/{group_id}/rules", "/dashboard/security-groups/",
                      preset=preset, remote="0.0.0.0/0")
        assert answer.status_code == 303
    rules = api(admin, tok, "GET", "/network/v2.0/security-group-rules",
                params={"security_group_id": group_id, "direction": "ingress"})["security_group_rules"]
    opened = {(r["protocol"], r["port_range_min"]) for r in rules if r["remote_ip_prefix"] == "0.0.0.0/0"}
    assert {("tcp", 22), ("icmp", None), ("tcp", 80), ("tcp", 443)} <= opened
    listing = admin.get("/dashboard/security-groups/").text
    assert "<td>22</td>" in listing and "<td>443</td>" in listing
    bad = post(admin, f"/dashboard/security-groups/{group_id}/rules", "/dashboard/security-groups/",
               preset="ssh", remote="everywhere")
    assert "field%20%27remote%27" in bad.headers["location"]


def test_keypair_private_key_downloads_once(admin: TestClient, tok: str) -> None:
    answer = post(admin, "/dashboard/keypairs/", "/dashboard/keypairs/", name="laptop")
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == 'attachment; filename="laptop.pem"'
    assert answer.headers["cache-control"] == "no-store"
    assert answer.text.startswith("-----BEGIN")
    listing = admin.get("/dashboard/keypairs/").text
    assert '<th scope="row">laptop</th>' in listing and "BEGIN" not in listing
    bad = post(admin, "/dashboard/keypairs/", "/dashboard/keypairs/", name="imported", public_key="not a key")
    assert bad.status_code == 400 and "not a key" in bad.text and 'class="error"' in bad.text


def test_api_access_downloads_and_application_credentials(admin: TestClient, site: Site) -> None:
    clouds = admin.get("/dashboard/api-access/clouds.yaml")
    assert clouds.headers["content-disposition"] == 'attachment; filename="clouds.yaml"'
    auth = yaml.safe_load(clouds.text)["clouds"]["gureum"]["auth"]
    assert auth["auth_url"] == f"{ORIGIN}/identity/v3" and auth["username"] == "admin"
    assert "password" not in auth and site.admin_password not in clouds.text
    openrc = admin.get("/dashboard/api-access/openrc.sh").text
    assert "export OS_PROJECT_NAME=admin" in openrc and site.admin_password not in openrc
    made = post(admin, "/dashboard/api-access/credentials", "/dashboard/api-access/", name="ci-bot")
    assert made.status_code == 201
    secret = re.search(r'<code class="secret">([^<]+)</code>', made.text).group(1)
    again = admin.get("/dashboard/api-access/").text
    assert "ci-bot" in again and secret not in again
    nameless = post(admin, "/dashboard/api-access/credentials", "/dashboard/api-access/", name="")
    assert nameless.status_code == 400 and 'id="e-name"' in nameless.text


def test_topology_svg_links_every_node_and_is_deterministic(admin: TestClient, tok: str) -> None:
    first = admin.get("/dashboard/topology/").text
    second = admin.get("/dashboard/topology/").text
    svg = re.search(r"<svg.*?</svg>", first, re.S).group(0)
    assert svg == re.search(r"<svg.*?</svg>", second, re.S).group(0)
    assert "<title id=\"topo-title\">Network topology</title>" in svg and "<desc" in svg
    for name in ("public", "edge", "green", "blue"):
        assert re.search(rf'<a href="/dashboard/[a-z-]+/#[a-z]+-[0-9a-f-]+" class="node [a-z ]+"><title>[^<]*{name}', svg)
    # The text list beside it names the same things.
    assert 'id="topo-list"' in first and ">edge</a>:" in first


def test_topology_layout_snapshot() -> None:
    from gureum.dashboard.topology import build_graph, render_svg

    networks = [{"id": "e1", "name": "ext", "router:external": True}, {"id": "n1", "name": "net1"}]
    routers = [{"id": "r1", "name": "r", "external_gateway_info": {"network_id": "e1"}}]
    ports = [{"device_owner": "network:router_interface", "device_id": "r1", "network_id": "n1"},
             {"device_owner": "compute:nova", "device_id": "s1", "network_id": "n1"}]
    servers = [{"id": "s1", "name": "vm", "status": "ACTIVE"}]
    svg = render_svg(build_graph(networks, routers, ports, servers), "/dashboard")
    assert svg.count("<line") == 3 and svg.count("<a href=") == 4
    assert hashlib.sha256(svg.encode()).hexdigest() == hashlib.sha256(
        render_svg(build_graph(list(reversed(networks)), routers, list(reversed(ports)), servers),
                   "/dashboard").encode()).hexdigest()
