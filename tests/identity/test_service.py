"""The identity service in-process: what other services call (the S3 layer's s3_context), and bootstrap."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gureum.cloud import Cloud
from gureum.config import Settings
from gureum.http.context import RequestContext
from gureum.http.errors import Unauthorized
from gureum.identity.bootstrap import bootstrap
from gureum.identity.ec2 import SignatureMismatch, UnknownAccessKey
from gureum.identity.ec2_signature import sigv4_signing_key
from gureum.identity.models import Project, Role, User


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    cloud = Cloud(Settings(state_dir=tmp_path / "state"))
    cloud.start()
    yield cloud
    cloud.image.stop()
    cloud.close()


def admin_ctx(cloud: Cloud) -> RequestContext:
    with cloud.db.read() as s:
        admin = s.execute(select(User).where(User.name == "admin")).scalar_one()
        project = s.execute(select(Project).where(Project.name == "admin")).scalar_one()
        admin_id, project_id = admin.id, project.id
    return RequestContext(user_id=admin_id, user_name="admin", user_domain_id="default", user_domain_name="Default",
                          roles=("admin", "member", "reader"), project_id=project_id)


def sigv4_string(date: str = "20261202", service: str = "s3") -> str:
    return f"AWS4-HMAC-SHA256\n{date}T050000Z\n{date}/RegionOne/{service}/aws4_request\n" + "ab" * 32


def test_s3_context_is_the_owner_on_the_credentials_project(cloud: Cloud) -> None:
    ctx = admin_ctx(cloud)
    created = cloud.identity.ec2.create(ctx, ctx.user_id, ctx.project_id, "http://x")["credential"]
    sts = sigv4_string()
    key = sigv4_signing_key(created["secret"], "20261202", "RegionOne", "s3")
    signature = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    s3 = cloud.identity.s3_context(created["access"], sts, signature, remote_addr="10.0.0.1", request_id="req-1")
    assert (s3.user_id, s3.project_id, s3.remote_addr, s3.request_id) == (ctx.user_id, ctx.project_id, "10.0.0.1", "req-1")
    assert {"admin", "member", "reader"} <= set(s3.roles) and s3.methods == ("ec2credential",)
    assert cloud.identity.s3_signing_key(created["access"], sts) == key

    with pytest.raises(UnknownAccessKey, match="EC2 access key not found"):
        cloud.identity.s3_context("nope", sts, signature)
    with pytest.raises(SignatureMismatch, match="Credential signature mismatch"):
        cloud.identity.s3_context(created["access"], sts, "0" * 64)
    with pytest.raises(SignatureMismatch, match="Invalid EC2 signature"):
        cloud.identity.s3_context(created["access"], sigv4_string(service="iam"), signature)
    assert issubclass(UnknownAccessKey, Unauthorized) and issubclass(SignatureMismatch, Unauthorized)

    # SigV2: base64 HMAC-SHA1 of the string to sign.
    v2 = "GET\n\n\nWed, 02 Dec 2026 05:00:00 GMT\n/bucket/key"
    v2_sig = base64.b64encode(hmac.new(created["secret"].encode(), v2.encode(), hashlib.sha1).digest()).decode()
    assert cloud.identity.s3_context(created["access"], v2, v2_sig).project_id == ctx.project_id

    # A deleted credential stops working at once (the lookup cache follows identity changes).
    cloud.identity.ec2.delete(ctx, ctx.user_id, created["access"])
    with pytest.raises(UnknownAccessKey):
        cloud.identity.s3_context(created["access"], sts, signature)


def test_bootstrap_is_idempotent_and_has_reseller_admin(cloud: Cloud) -> None:
    bootstrap(cloud)
    bootstrap(cloud)
    with cloud.db.read() as s:
        counts = dict(s.execute(select(Role.name, func.count()).group_by(Role.name)).all())
    assert counts["ResellerAdmin"] == 1 and counts["admin"] == 1 and counts["member"] == 1
