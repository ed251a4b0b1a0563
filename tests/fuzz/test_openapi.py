"""The OpenAPI document describes every route the app serves, and nothing else."""

from __future__ import annotations

from typing import Any

from starlette.routing import Mount, Route

from gureum.app import build_app
from gureum.openapi import openapi_document

from .fuzzkit import PATH_PARAM


def _root() -> Any:
    return build_app(None).app  # type: ignore[arg-type]


def _declared_routes(routes: list[Any], prefix: str = "") -> set[tuple[str, str]]:
    found = set()
    for route in routes:
        if isinstance(route, Mount):
            found |= _declared_routes(list(route.routes), prefix + route.path.rstrip("/"))
        elif isinstance(route, Route):
            methods = set(route.methods or {"GET"})
            if "GET" in methods:
                methods.discard("HEAD")
            found |= {(m.lower(), prefix + route.path_format) for m in methods}
    return found


def test_every_route_is_an_operation() -> None:
    doc = openapi_document(_root())
    described = {(method, path) for path, item in doc["paths"].items() for method in item}
    assert _declared_routes(list(_root().routes)) == described


def test_operations_are_well_formed() -> None:
    doc = openapi_document(_root())
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)), "operationIds repeat"
    for path, item in doc["paths"].items():
        for method, op in item.items():
            names = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
            assert names == PATH_PARAM.findall(path), (method, path)
            assert "error" == op["responses"]["404"]["description"]
            if "requestBody" in op:
                assert method in ("post", "put", "patch"), (method, path)


def test_token_routes() -> None:
    ops = openapi_document(_root())["paths"]["/identity/v3/auth/tokens"]
    assert set(ops) == {"post", "get", "head", "delete"}
    assert ops["post"]["summary"] == "Issue a token"
    assert "201" in ops["post"]["responses"]
    assert {} in ops["post"]["security"], "issuing a token needs no token"
    assert ops["get"]["security"] == [{"openstackToken": []}]
    assert ops["head"]["x-handler"] == "check_token"


def test_body_schema_in_openapi_30_dialect() -> None:
    ops = openapi_document(_root())["paths"]["/identity/v3/projects/{project_id}"]
    schema = ops["patch"]["requestBody"]["content"]["application/json"]["schema"]
    description = schema["properties"]["project"]["properties"]["description"]
    assert description["type"] == "string" and description["nullable"] is True


def test_image_data_is_binary() -> None:
    paths = openapi_document(_root())["paths"]
    upload = paths["/image/v2/images/{image_id}/file"]["put"]
    assert upload["requestBody"]["content"] == {"application/octet-stream": {"schema": {"type": "string",
                                                                                         "format": "binary"}}}
    assert "security" not in upload, "a plain route says nothing it cannot know"
    assert "requestBody" not in paths["/image/v2/images/{image_id}/file"]["get"]
