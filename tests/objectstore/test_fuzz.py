"""Junk against Swift and S3: odd names, methods, headers, query strings and bodies.
The only claim: never a 5xx, and every answer carries X-Trans-Id."""

from __future__ import annotations

import httpx
import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, Phase, given, settings

from gureum.testing import RunningCloud
from tests.objectstore.conftest import SwiftUser, unique

pytestmark = pytest.mark.slow

NASTY = ["", ".", "..", "%2e%2e", "a%00b", "%ff%fe", "x" * 1100, "%F0%9F%92%A9", "a/../../b", "..%2f..%2fetc",
         "%0a", "con", "a b", "'\"<>", "%25", "\\", "~", "*"]
HEADER_NAMES = ["X-Object-Meta-A", "X-Container-Meta-Quota-Bytes", "X-Container-Meta-Quota-Count", "X-Delete-At",
                "X-Delete-After", "X-Copy-From", "Destination", "Range", "If-Match", "If-None-Match",
                "If-Modified-Since", "X-Object-Manifest", "X-Versions-Location", "X-Container-Read",
                "X-Storage-Policy", "Content-Type", "ETag", "X-Account-Meta-Temp-URL-Key", "X-Account-Quota-Count",
                "Authorization", "x-amz-content-sha256", "x-amz-date", "x-amz-copy-source", "Content-MD5",
                "x-amz-decoded-content-length", "Content-Encoding", "X-Container-Meta-Access-Control-Allow-Origin"]
HEADER_VALUES = ["", "*", "-1", "0", "99999999999999999999", "bytes=5-1", "bytes=-0,0-", "bytes=0-0,1-1,2-2",
                 "a/b", "/", "c", "../x", "nonsense", "AWS4-HMAC-SHA256 Credential=a/b/c/s3/aws4_request, "
                 "SignedHeaders=host, Signature=00", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "aws-chunked",
                 "Mon, 32 Foo 2020", ".r:*,.rlistings", "Policy-0", "gold", "x" * 300]
QUERIES = ["", "format=xml", "format=json&limit=-1", "limit=abc", "marker=%00", "delimiter=ab", "path=x",
           "multipart-manifest=put", "multipart-manifest=get", "multipart-manifest=delete", "bulk-delete",
           "extract-archive=tar", "extract-archive=zip", "temp_url_sig=abc&temp_url_expires=1",
           "temp_url_sig=sha256:!!!&temp_url_expires=2030-01-01T00:00:00Z", "uploads", "uploadId=x&partNumber=0",
           "uploadId=x&partNumber=99999", "list-type=2&continuation-token=!!!", "max-keys=-5", "delete",
           "location", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a&X-Amz-Date=x&X-Amz-Expires=y"
           "&X-Amz-SignedHeaders=host&X-Amz-Signature=0", "AWSAccessKeyId=a&Signature=b&Expires=c"]
BODIES = [b"", b"[]", b"{}", b"[{\"path\": 5}]", b"<Delete><Object><Key>a</Key></Object></Delete>", b"<x",
          b"\x00\xff" * 50, b"0;chunk-signature=zz\r\n\r\n", b"zz\r\n", b"/c/o\n/c\n%ff\n"]
METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "COPY", "OPTIONS"]


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.request.method, response.request.url, response.status_code,
                                        response.text[:300])
    # (httpx folds dot segments, so /object-store/v1/.. may leave the mount: the root app answers that.)
    path = response.request.url.path
    if path.startswith(("/object-store/", "/s3/")):
        assert "x-trans-id" in response.headers, response.request.url


@pytest.fixture(scope="module")
def target(os_cloud: RunningCloud, identity: object) -> tuple[RunningCloud, SwiftUser, str]:
    user = identity.user("member")  # type: ignore[attr-defined]
    container = unique("fz")
    with user.client() as http:
        assert http.put(f"/{container}").status_code == 201
        assert http.put(f"/{container}/o", content=b"0123456789").status_code == 201
    return os_cloud, user, container


def test_nasty_names(target: tuple[RunningCloud, SwiftUser, str]) -> None:
    cloud, user, container = target
    with user.client() as http:
        for nasty in NASTY:
            for method in METHODS:
                for path in (f"/{nasty}", f"/{container}/{nasty}", f"/{nasty}/{nasty}"):
                    check(http.request(method, f"{user.account_url}{path}", content=b"x" if method == "PUT" else None))
                check(http.request(method, f"{cloud.base_url}/s3/{nasty}/{nasty}"))
            check(http.get(f"{cloud.base_url}/object-store/v1/{nasty}"))


@settings(max_examples=150, deadline=None, derandomize=True, phases=[Phase.generate],
          suppress_health_check=list(HealthCheck))
@given(method=st.sampled_from(METHODS), where=st.sampled_from(["account", "container", "object", "s3", "s3obj"]),
       headers=st.dictionaries(st.sampled_from(HEADER_NAMES), st.sampled_from(HEADER_VALUES), max_size=4),
       query=st.sampled_from(QUERIES), body=st.sampled_from(BODIES), token=st.booleans())
def test_junk_mix(target: tuple[RunningCloud, SwiftUser, str], method: str, where: str, headers: dict[str, str],
                  query: str, body: bytes, token: bool) -> None:
    cloud, user, container = target
    url = {"account": user.account_url, "container": f"{user.account_url}/{container}",
           "object": f"{user.account_url}/{container}/o", "s3": f"{cloud.base_url}/s3/{container}",
           "s3obj": f"{cloud.base_url}/s3/{container}/o"}[where]
    sent = dict(headers)
    if token:
        sent["X-Auth-Token"] = user.token
    if method == "HEAD":
        body = b""
    try:
        response = httpx.request(method, f"{url}?{query}" if query else url, headers=sent, content=body or None,
                                 timeout=60)
    except httpx.RemoteProtocolError:
        return  # a refused framing (e.g. a bad Content-Length pairing) is the server saying no
    check(response)
