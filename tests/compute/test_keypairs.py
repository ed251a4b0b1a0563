"""Keypairs through the real CLI and over HTTP: keys ssh accepts, imports, fingerprints,
per-user visibility, admins acting for a user, quotas and the shapes of each microversion."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from gureum.compute import keypairs as service
from gureum.http.errors import BadRequest
from gureum.testing import RunningCloud
from tests.compute.nova_api import call, project_id, token


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def md5_fingerprint(public_key: str) -> str:
    digest = hashlib.md5(base64.b64decode(public_key.split()[1]), usedforsecurity=False).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


def public_line(key: object) -> str:
    return key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def ssh_keygen_public(private_key_file: Path) -> str:
    private_key_file.chmod(0o600)
    out = subprocess.run(["ssh-keygen", "-y", "-f", str(private_key_file)], capture_output=True, text=True,
                         check=True).stdout
    return " ".join(out.split()[:2])


@pytest.fixture(scope="module")
def member(cloud: RunningCloud) -> dict:
    project, user, password = unique("kproj"), unique("kuser"), uuid.uuid4().hex
    cloud.openstack("project", "create", project)
    cloud.openstack("user", "create", "--password", password, "--project", project, user)
    cloud.openstack("role", "add", "--project", project, "--user", user, "member")
    user_id = cloud.openstack_json("user", "show", user)["id"]
    return {"env": cloud.env_for(user, password, project), "user": user, "user_id": user_id, "project": project,
            "project_id": project_id(cloud, project), "token": token(cloud, user, password, project)}


# -- keys ssh accepts -----------------------------------------------------------------


def test_keypair_create_writes_a_key_ssh_accepts(cloud: RunningCloud, tmp_path: Path) -> None:
    name = unique("mykey")
    pem = tmp_path / "mykey.pem"
    result = cloud.openstack("keypair", "create", name)
    pem.write_text(result.stdout)
    shown = cloud.openstack("keypair", "show", name, "--public-key").stdout.strip()
    assert ssh_keygen_public(pem) == " ".join(shown.split()[:2])
    listed = {k["Name"]: k for k in cloud.openstack_json("keypair", "list")}
    assert listed[name]["Fingerprint"] == md5_fingerprint(shown)
    assert listed[name]["Type"] == "ssh"
    cloud.openstack("keypair", "delete", name)
    assert name not in {k["Name"] for k in cloud.openstack_json("keypair", "list")}


def test_server_generated_key_is_rsa_pem_ssh_accepts(cloud: RunningCloud, tmp_path: Path) -> None:
    """What Ansible's keypair module and the SDK get without a public key: nova makes one."""
    name = unique("generated")
    created = call(cloud, "POST", "/os-keypairs", {"keypair": {"name": name}}, version="2.10")
    assert created.status == 201
    body = created.body["keypair"]
    assert set(body) == {"name", "public_key", "fingerprint", "user_id", "type", "private_key"}
    assert body["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert body["public_key"].startswith("ssh-rsa ") and body["public_key"].endswith(" Generated-by-Nova")
    assert body["fingerprint"] == md5_fingerprint(body["public_key"])
    pem = tmp_path / "generated.pem"
    pem.write_text(body["private_key"])
    assert ssh_keygen_public(pem) == " ".join(body["public_key"].split()[:2])
    key = serialization.load_pem_private_key(body["private_key"].encode(), None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    shown = call(cloud, "GET", f"/os-keypairs/{name}", version="2.10").body["keypair"]
    assert "private_key" not in shown and shown["public_key"] == body["public_key"]
    assert call(cloud, "DELETE", f"/os-keypairs/{name}", version="2.10").status == 204


@pytest.mark.parametrize("kind", ["rsa", "ed25519", "ecdsa"])
def test_import_public_keys(cloud: RunningCloud, tmp_path: Path, kind: str) -> None:
    key = {"rsa": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
           "ed25519": ed25519.Ed25519PrivateKey.generate,
           "ecdsa": lambda: ec.generate_private_key(ec.SECP256R1())}[kind]()
    line = public_line(key) + " me@laptop"
    pub = tmp_path / "id.pub"
    pub.write_text(line + "\n")
    name = unique(f"imported-{kind}")
    created = cloud.openstack_json("keypair", "create", "--public-key", str(pub), name)
    assert created["fingerprint"] == md5_fingerprint(line)
    assert "private_key" not in created
    assert cloud.openstack("keypair", "show", name, "--public-key").stdout.strip() == line
    cloud.openstack("keypair", "delete", name)


@pytest.mark.parametrize(
    ("public_key", "problem"),
    [
        ("not a key at all", "unknown key type 'not'"),
        ("ssh-rsa", "expected an OpenSSH public key"),
        ("ssh-rsa %%%%", "not valid base64"),
        ("ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQC1", "not a valid ssh-ed25519 key"),
    ],
)
def test_bad_public_key_is_a_400_naming_the_problem(cloud: RunningCloud, public_key: str, problem: str) -> None:
    answer = call(cloud, "POST", "/os-keypairs", {"keypair": {"name": unique("bad"), "public_key": public_key}})
    assert answer.status == 400
    message = answer.body["badRequest"]["message"]
    assert message.startswith("Keypair data is invalid: failed to generate fingerprint")
    assert problem in message


def test_fingerprint_matches_nova_for_its_sample_key() -> None:
    # nova's api-samples key and the fingerprint nova printed for it.
    sample = ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCkF3MX59OrlBs3dH5CU7lNmvpbrgZxSpyGjlnE8Flkirnc/Up22lpjznoxqeoT"
              "AwTW034k7Dz6aYIrZGmQwe2TkE084yqvlj45Dkyoj95fW/sZacm0cZNuL69EObEGHdprfGJQajrpz22NQoCD8TFB8Wv+8om9NH9"
              "Le6s+WPe98WC77KLw8qgfQsbIey+JawPWl4O67ZdL5xrypuRjfIPWjgy/VH85IXg/Z/GONZ2nxHgSShMkwqSFECAC5L3PHB+0+/1"
              "2M/iikdatFSVGjpuHvkLOs3oe7m6HlOfluSJ85BzLWBbvva93qkGmLg4ZAc8rPh2O+YIsBUHNLLMM/oQp Generated-by-Nova")
    assert service.ssh_fingerprint(sample) == "7e:eb:ab:24:ba:d1:e1:88:ae:9a:fb:66:53:df:d3:bd"
    with pytest.raises(BadRequest):
        service.ssh_fingerprint("ssh-rsa AAAA")


def test_x509_keypair(cloud: RunningCloud) -> None:
    name = unique("cert")
    created = call(cloud, "POST", "/os-keypairs", {"keypair": {"name": name, "type": "x509"}}, version="2.2")
    assert created.status == 201
    body = created.body["keypair"]
    assert body["type"] == "x509" and body["public_key"].startswith("-----BEGIN CERTIFICATE-----")
    base64.b64decode(body["private_key"])  # PKCS#12, base64
    imported = call(cloud, "POST", "/os-keypairs",
                    {"keypair": {"name": unique("cert2"), "type": "x509", "public_key": body["public_key"]}},
                    version="2.2")
    assert imported.status == 201 and imported.body["keypair"]["fingerprint"] == body["fingerprint"]
    for key in (name, imported.body["keypair"]["name"]):
        call(cloud, "DELETE", f"/os-keypairs/{key}", version="2.2")


# -- shapes, status codes and errors -----------------------------------------------------


def test_shapes_per_microversion(cloud: RunningCloud) -> None:
    name = unique("shape")
    old = call(cloud, "POST", "/os-keypairs", {"keypair": {"name": name}}, version="2.1")
    assert old.status == 200 and "type" not in old.body["keypair"]
    shown = call(cloud, "GET", f"/os-keypairs/{name}", version="2.1").body["keypair"]
    assert set(shown) == {"name", "public_key", "fingerprint", "user_id", "created_at", "deleted", "deleted_at", "id",
                          "updated_at"}
    assert shown["deleted"] is False and shown["deleted_at"] is None and isinstance(shown["id"], int)
    assert call(cloud, "GET", f"/os-keypairs/{name}", version="2.2").body["keypair"]["type"] == "ssh"
    listed = call(cloud, "GET", "/os-keypairs", version="2.1").body
    entry = next(k["keypair"] for k in listed["keypairs"] if k["keypair"]["name"] == name)
    assert set(entry) == {"name", "public_key", "fingerprint"}
    assert call(cloud, "DELETE", f"/os-keypairs/{name}", version="2.1").status == 202


def test_duplicate_missing_and_bad_names(cloud: RunningCloud) -> None:
    name = unique("dup")
    assert call(cloud, "POST", "/os-keypairs", {"keypair": {"name": name}}, version="2.2").status == 201
    again = call(cloud, "POST", "/os-keypairs", {"keypair": {"name": name}}, version="2.2")
    assert again.status == 409
    assert again.body == {"conflictingRequest": {"code": 409, "message": f"Key pair '{name}' already exists."}}
    call(cloud, "DELETE", f"/os-keypairs/{name}")
    missing = call(cloud, "GET", f"/os-keypairs/{name}")
    assert missing.status == 404
    assert missing.body["itemNotFound"]["message"].startswith(f"Keypair {name} not found for user ")
    bad = call(cloud, "POST", "/os-keypairs", {"keypair": {"name": "no/slashes"}})
    assert bad.status == 400 and "name" in bad.body["badRequest"]["message"]
    wrong_type = call(cloud, "POST", "/os-keypairs", {"keypair": {"name": unique("t"), "type": "pgp"}},
                      version="2.2")
    assert wrong_type.status == 400


def test_paging_from_2_35(cloud: RunningCloud, member: dict) -> None:
    names = sorted(unique(f"page{i}") for i in range(3))
    for name in names:
        call(cloud, "POST", "/os-keypairs", {"keypair": {"name": name}}, auth=member["token"])
    first = call(cloud, "GET", "/os-keypairs?limit=2", version="2.35", auth=member["token"]).body
    assert [k["keypair"]["name"] for k in first["keypairs"]] == names[:2]
    assert first["keypairs_links"][0]["rel"] == "next" and f"marker={names[1]}" in first["keypairs_links"][0]["href"]
    rest = call(cloud, "GET", f"/os-keypairs?limit=2&marker={names[1]}", version="2.35", auth=member["token"]).body
    assert [k["keypair"]["name"] for k in rest["keypairs"]] == names[2:]
    assert "keypairs_links" not in rest
    # Before 2.35 there is no paging: the parameters are ignored.
    assert len(call(cloud, "GET", "/os-keypairs?limit=1", version="2.34", auth=member["token"]).body["keypairs"]) == 3
    for name in names:
        call(cloud, "DELETE", f"/os-keypairs/{name}", auth=member["token"])


# -- per user ------------------------------------------------------------------------------


def test_a_member_sees_only_their_own_keypairs(cloud: RunningCloud, member: dict, tmp_path: Path) -> None:
    admin_key, member_key = unique("adminkey"), unique("memberkey")
    cloud.openstack("keypair", "create", admin_key)
    cloud.openstack("keypair", "create", member_key, env=member["env"])
    try:
        mine = {k["Name"] for k in cloud.openstack_json("keypair", "list", env=member["env"])}
        assert member_key in mine and admin_key not in mine
        assert cloud.openstack("keypair", "show", admin_key, env=member["env"], check=False).returncode != 0
        # A member may not act for another user; an admin may (2.10).
        other = call(cloud, "GET", f"/os-keypairs?user_id={member['user_id']}", version="2.10",
                     auth=token(cloud)).body
        assert member_key in [k["keypair"]["name"] for k in other["keypairs"]]
        admin_id = cloud.openstack_json("user", "show", "admin")["id"]
        refused = call(cloud, "GET", f"/os-keypairs?user_id={admin_id}", version="2.10", auth=member["token"])
        assert refused.status == 403
        assert refused.body["forbidden"]["message"] == (
            "Policy doesn't allow os_compute_api:os-keypairs:index to be performed.")
        made = cloud.openstack_json("keypair", "create", "--user", member["user"], "--public-key",
                                    str(_write_pub(tmp_path)), unique("forthem"))
        assert made["user_id"] == member["user_id"]
        assert made["name"] in {k["Name"] for k in cloud.openstack_json("keypair", "list", env=member["env"])}
        cloud.openstack("keypair", "delete", "--user", member["user"], made["name"])
    finally:
        cloud.openstack("keypair", "delete", admin_key)
        cloud.openstack("keypair", "delete", member_key, env=member["env"])


def _write_pub(tmp_path: Path) -> Path:
    pub = tmp_path / "other.pub"
    pub.write_text(public_line(ed25519.Ed25519PrivateKey.generate()) + "\n")
    return pub


def test_key_pairs_quota(cloud: RunningCloud, member: dict) -> None:
    cloud.openstack("quota", "set", "--key-pairs", "1", member["project"])
    try:
        first = unique("q1")
        assert call(cloud, "POST", "/os-keypairs", {"keypair": {"name": first}}, auth=member["token"]).status == 200
        over = call(cloud, "POST", "/os-keypairs", {"keypair": {"name": unique("q2")}}, auth=member["token"])
        assert over.status == 403
        assert over.body == {"forbidden": {"code": 403, "message": "Quota exceeded, too many key pairs."}}
        call(cloud, "DELETE", f"/os-keypairs/{first}", auth=member["token"])
    finally:
        cloud.openstack("quota", "set", "--key-pairs", "100", member["project"])


def test_get_keypair_for_server_create(cloud: RunningCloud) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from gureum.compute.models import KeyPair, QuotaLimit
    from gureum.db.base import Base
    from gureum.http.errors import NotFound

    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine, tables=[KeyPair.__table__, QuotaLimit.__table__])
    with Session(engine) as session:
        keypair, private = service.create_keypair(session, project_id="p", user_id="u", name="k")
        assert private is not None and service.get_keypair(session, "u", "k").id == keypair.id
        with pytest.raises(NotFound, match="Keypair k not found for user v"):
            service.get_keypair(session, "v", "k")
