"""Junk at every route: odd ids in the path, bodies that are not what anyone sends,
wrong content types and odd query strings. The only claim: never a 5xx, and a 4xx
comes in the service's error format.

Three passes per route: a fixed list of nasty path values (one parameter at a time,
the others real ids, so the junk reaches the handler), a fixed list of nasty bodies,
and a derandomized Hypothesis mix of all of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, Phase, given, settings

from gureum.testing import RunningCloud

from .fuzzkit import PATH_PARAM, document_from_routes, error_format_problem, seeded, service_of

pytestmark = pytest.mark.slow  # a few minutes on 2 cores; still part of CI

MAX_EXAMPLES = 15
MIB = 1024 * 1024
MAX_URL = 32_000

OPERATIONS = [
    (method.upper(), path, op)
    for path, item in document_from_routes()["paths"].items()
    for method, op in item.items()
]
BODY_METHODS = {"POST", "PUT", "PATCH"}

NASTY_PATH_VALUES = [
    "%00",
    "a\x00b",
    "..",
    "../",
    "../../../etc/passwd",
    "%2e%2e%2f",
    "' OR '1'='1",
    "1; DROP TABLE project; --",
    '"; SELECT * FROM user --',
    "x" * 5000,
    "é" * 2000,
    "😀🚀 ☃ 구름",
    "\u202e\u0301\ufeff",
    "\t \r",
    "a\nb",
    "null",
    "-1",
    "99999999999999999999999999999999",
    "1e309",
    "true",
    "{}",
    "[]",
    "%",
    "%zz",
    "?",
    "#",
    ";",
    "*",
    "\\",
    " ",
]

NESTED_DEPTH = 100_000


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


JUNK_BODIES: list[tuple[str, bytes | None, str | None]] = [
    # (label, body, content-type); None content-type means "send none".
    ("not json", b"this is not json", "application/json"),
    ("truncated json", b'{"project": {"name": ', "application/json"),
    ("json array", b"[1, 2, 3]", "application/json"),
    ("json string", b'"hello"', "application/json"),
    ("json number", b"42", "application/json"),
    ("json null", b"null", "application/json"),
    ("json true", b"true", "application/json"),
    ("empty object", b"{}", "application/json"),
    ("NaN", b'{"x": NaN, "y": Infinity}', "application/json"),
    ("huge int", b'{"x": ' + b"9" * 5000 + b"}", "application/json"),
    ("huge float", b'{"x": 1e999}', "application/json"),
    ("lone surrogate", b'{"x": "\\ud800"}', "application/json"),
    ("invalid utf-8", b'{"x": "\xff\xfe"}', "application/json"),
    ("utf-16", '{"x": 1}'.encode("utf-16"), "application/json"),
    ("bom", b'\xef\xbb\xbf{"x": 1}', "application/json"),
    ("nested deep", nested(NESTED_DEPTH), "application/json"),
    ("nested array deep", b"[" * NESTED_DEPTH + b"]" * NESTED_DEPTH, "application/json"),
    ("nested 500", nested(500), "application/json"),
    ("wide object", json.dumps({f"k{i}": i for i in range(20000)}).encode(), "application/json"),
    ("over 1 MiB", b'{"x": "' + b"a" * (MIB + 16) + b'"}', "application/json"),
    ("over 1 MiB, no content type", b"a" * (MIB + 16), None),
    ("xml", b"<project><name>x</name></project>", "application/xml"),
    ("form", b"name=x&enabled=true", "application/x-www-form-urlencoded"),
    ("multipart", b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\n1\r\n--b--\r\n", "multipart/form-data; boundary=b"),
    ("octet-stream", b"\x00\x01\x02\x03", "application/octet-stream"),
    ("text/plain json", b'{"x": 1}', "text/plain"),
    ("bad content type", b'{"x": 1}', "application/json; charset=klingon"),
    ("garbage content type", b'{"x": 1}', "////"),
    ("json patch", b'[{"op": "replace", "path": "/name", "value": 1}]', "application/openstack-images-v2.1-json-patch"),
    ("json patch junk", b'[{"op": "explode", "path": 7}]', "application/openstack-images-v2.1-json-patch"),
    ("json patch not a list", b'{"op": "replace"}', "application/openstack-images-v2.1-json-patch"),
]

# Wrong types for every field the schemas know, inside each body's wrapper key.
WRONG_VALUES: list[Any] = [None, 1, -1, 1.5, True, "", "x" * 70000, [], [1, "a"], {}, {"a": {"b": {}}}]

JUNK_QUERY = {
    "limit": ["-1", "0", "abc", "99999999999999999999", "1.5"],
    "marker": ["nonexistent", "%00", "x" * 5000],
    "sort_key": ["nonexistent", "name;drop"],
    "sort_dir": ["sideways"],
    "sort": ["name:sideways", "nonexistent:asc", ":::"],
    "name": ["%", "_", "' OR 1=1 --"],
    "enabled": ["maybe", ""],
    "domain_id": ["nonexistent"],
    "parent_id": ["nonexistent"],
    "user.id": ["x"],
    "scope.project.id": ["x"],
    "include_subtree": ["true"],
    "effective": [""],
    "include_names": ["1"],
    "allow_expired": ["1"],
    "nocatalog": [""],
    "visibility": ["sideways"],
    "member_status": ["sideways"],
    "tags": [",,,", "x" * 300],
    "tags-any": [","],
    "status": ["sideways"],
    "size_min": ["-5", "x"],
    "size_max": ["1e99"],
    "created_at": ["gte:notadate", "lte:2020-13-45T99:99:99Z"],
    "updated_at": ["neq:x"],
    "os_hidden": ["maybe"],
}


def url_of(path_template: str, values: dict[str, str]) -> str:
    def fill(match: Any) -> str:
        return quote(values[match.group(1)], safe="")

    return PATH_PARAM.sub(fill, path_template)


def real_values(path: str, ids: dict[str, list[str]]) -> dict[str, str]:
    return {name: (ids.get(name) or ["nonexistent"])[0] for name in PATH_PARAM.findall(path)}


@pytest.fixture(scope="module")
def client(fuzz_cloud: RunningCloud, admin_token: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fuzz_cloud.base_url, headers={"X-Auth-Token": admin_token}, timeout=120) as c:
        yield c


def check(fuzz_cloud: RunningCloud, method: str, url: str, response: httpx.Response, what: str) -> None:
    request = f"{method} {url[:300]}{'...' if len(url) > 300 else ''} ({what})"
    assert response.status_code < 500, (
        f"{request} -> {response.status_code}: {response.text[:500]}\n--- server log tail ---\n"
        + fuzz_cloud.log()[-4000:]
    )
    if method != "HEAD":
        accept_json = "application/json" in response.request.headers.get("accept", "")
        problem = error_format_problem(service_of(url), response.status_code, response.headers,
                                       response.content, accept_json)
        assert problem is None, f"{request}: {problem}"


def send(client: httpx.Client, method: str, url: str, body: bytes | None = None, ctype: str | None = None,
         headers: dict[str, str] | None = None, params: dict[str, str] | None = None) -> httpx.Response:
    all_headers = dict(headers or {})
    if ctype is not None:
        all_headers["Content-Type"] = ctype
    # httpx would encode `url` again; hand it the already quoted path as raw bytes.
    request = client.build_request(method, url, content=body, headers=all_headers, params=params)
    request.url = request.url.copy_with(raw_path=url.encode("ascii") + (
        b"?" + request.url.query if request.url.query else b""))
    return client.send(request)


WITH_PARAMS = [(m, p, op) for m, p, op in OPERATIONS if PATH_PARAM.search(p)]


@pytest.mark.parametrize(("method", "path", "op"), WITH_PARAMS, ids=[f"{m} {p}" for m, p, _ in WITH_PARAMS])
def test_junk_path_values(method: str, path: str, op: dict[str, Any], client: httpx.Client,
                          fuzz_cloud: RunningCloud, fuzz_ids: dict[str, list[str]]) -> None:
    names = PATH_PARAM.findall(path)
    if method == "DELETE":
        names = names[-1:]  # junk in the last one only: the others are real and must stay
    for name in names:
        for junk in NASTY_PATH_VALUES:
            values = real_values(path, fuzz_ids)
            values[name] = junk
            url = url_of(path, values)
            check(fuzz_cloud, method, url, send(client, method, url, b"{}" if method in BODY_METHODS else None,
                                                "application/json" if method in BODY_METHODS else None),
                  f"{name}={junk[:40]!r}")


@pytest.mark.parametrize(("method", "path", "op"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_junk_bodies(method: str, path: str, op: dict[str, Any], client: httpx.Client,
                     fuzz_cloud: RunningCloud, fuzz_ids: dict[str, list[str]]) -> None:
    if method == "DELETE":
        # A junk body does not stop a DELETE; sending it would delete the shared records.
        values = {name: "nonexistent-" + name for name in PATH_PARAM.findall(path)}
    else:
        values = real_values(path, fuzz_ids)
    url = url_of(path, values)
    bodies = list(JUNK_BODIES) if method in BODY_METHODS else JUNK_BODIES[:3]
    schema = (op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema") or {})
    wrappers = [k for k in (schema.get("properties") or {})]
    for key in wrappers:
        inner = schema["properties"][key]
        fields = list((inner.get("properties") or {}).keys()) if isinstance(inner, dict) else []
        for value in WRONG_VALUES:
            bodies.append((f"{key}={value!r:.30}", json.dumps({key: value}).encode(), "application/json"))
            for field in fields:
                bodies.append((f"{key}.{field}={value!r:.30}", json.dumps({key: {field: value}}).encode(),
                               "application/json"))
    for label, body, ctype in bodies:
        check(fuzz_cloud, method, url, send(client, method, url, body, ctype), label)


def junk_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(NASTY_PATH_VALUES),
        st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=64),
        st.text(st.characters(blacklist_categories=("Cs",)), min_size=4000, max_size=6000),
    )


JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                        st.text(max_size=40))
JSON_VALUES = st.recursive(JSON_LEAVES, lambda kids: st.one_of(st.lists(kids, max_size=5),
                                                              st.dictionaries(st.text(max_size=10), kids, max_size=5)),
                           max_leaves=30)


@st.composite
def junk_requests(draw: st.DrawFn, path: str, op: dict[str, Any], ids: dict[str, list[str]],
                  method: str) -> tuple[str, bytes | None, str | None, dict[str, str], dict[str, str]]:
    values = {}
    for name in PATH_PARAM.findall(path):
        junk = draw(junk_text())
        values[name] = junk if method == "DELETE" else seeded(name, junk, ids)
    if method == "DELETE":
        values = {name: "junk-" + value for name, value in values.items()}
    url = url_of(path, values)
    while len(url) > MAX_URL:  # httpx refuses URLs over 64 KiB; keep the junk, shorter
        longest = max(values, key=lambda name: len(values[name]))
        values[longest] = values[longest][: len(values[longest]) // 2]
        url = url_of(path, values)
    body_kind = draw(st.sampled_from(["none", "json", "wrapped", "junk", "bytes"]))
    schema = (op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema") or {})
    keys = list((schema.get("properties") or {}).keys()) or ["x"]
    body: bytes | None
    if body_kind == "none":
        body = None
    elif body_kind == "json":
        body = json.dumps(draw(JSON_VALUES)).encode()
    elif body_kind == "wrapped":
        body = json.dumps({draw(st.sampled_from(keys)): draw(JSON_VALUES)}).encode()
    elif body_kind == "junk":
        body = draw(st.sampled_from([b for _, b, _ in JUNK_BODIES if b is not None and len(b) < 200_000]))
    else:
        body = draw(st.binary(max_size=256))
    ctype = draw(st.sampled_from([None, "application/json", "text/plain", "application/xml", "application/octet-stream",
                                  "application/openstack-images-v2.1-json-patch", "application/json; charset=utf-8",
                                  "*/*", ""]))
    headers = {}
    if draw(st.booleans()):
        headers["Accept"] = draw(st.sampled_from(["application/json", "text/html", "*/*", "image/png", ""]))
    if draw(st.integers(0, 9)) == 0:
        headers["X-Auth-Token"] = draw(st.sampled_from(["", "garbage", "gAAAAA" + "A" * 200, "x" * 5000]))
    if "/auth/tokens" in path and draw(st.booleans()):
        headers["X-Subject-Token"] = draw(st.sampled_from(["garbage", "gAAAAA" + "A" * 200, "x" * 5000, "%00"]))
    params = {}
    for key in draw(st.lists(st.sampled_from(sorted(JUNK_QUERY)), max_size=3, unique=True)):
        params[key] = draw(st.sampled_from(JUNK_QUERY[key]))
    return url, body, ctype, headers, params


@pytest.mark.parametrize(("method", "path", "op"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS])
def test_junk_mix(method: str, path: str, op: dict[str, Any], client: httpx.Client,
                  fuzz_cloud: RunningCloud, fuzz_ids: dict[str, list[str]]) -> None:
    @given(request=junk_requests(path, op, fuzz_ids, method))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(request: tuple[str, bytes | None, str | None, dict[str, str], dict[str, str]]) -> None:
        url, body, ctype, headers, params = request
        response = send(client, method, url, body, ctype, headers, params)
        check(fuzz_cloud, method, url, response, f"body={body[:60] if body else body!r} ctype={ctype!r} "
                                                 f"headers={ {k: v[:30] for k, v in headers.items()} } params={params}")

    run()
