"""An OpenAPI 3.0 description of the live app, read from its Starlette route tables.

Nothing here is written by hand: every `Route` under the root app's `Mount`s becomes
an operation. Endpoints declared with `@endpoint(...)` carry an `EndpointMeta`
(`api_meta`) that gives the summary, the success status, whether a token is needed
and the JSON Schema of the body; plain async routes (version discovery, image data)
are described by path and method only. The document feeds the API fuzz tests and can
be served at `GET /openapi.json`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from starlette.routing import BaseRoute, Mount, Route

from gureum import __version__
from gureum.http.endpoint import EndpointMeta

OPENAPI_VERSION = "3.0.3"
ERROR_STATUSES = ("400", "401", "403", "404", "409", "413")
AUTH_SCHEME = "openstackToken"
SECURITY_SCHEMES = {
    AUTH_SCHEME: {
        "type": "apiKey",
        "in": "header",
        "name": "X-Auth-Token",
        "description": "A keystone token, from POST /identity/v3/auth/tokens (the X-Subject-Token header).",
    }
}
BINARY_MEDIA_TYPES = ("application/octet-stream",)
PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")
METHOD_ORDER = ("get", "head", "post", "put", "patch", "delete", "options")


def _routes_of(app: Any) -> list[BaseRoute]:
    """The route list of a Starlette app, looking through wrapping middleware (`.app`)."""
    seen = 0
    while app is not None and seen < 16:
        routes = getattr(app, "routes", None)
        if routes is not None:
            return list(routes)
        app = getattr(app, "app", None)
        seen += 1
    return []


def _walk(routes: list[BaseRoute], prefix: str, service: str | None) -> Iterator[tuple[str, str | None, Route]]:
    """(full path format, mount name, route) for every Route, depth first, in table order."""
    for route in routes:
        if isinstance(route, Mount):
            mount_path = route.path.rstrip("/")  # path_format would end in "/{path}"
            name = service or (mount_path.strip("/").split("/")[0] or None)
            yield from _walk(_routes_of(route), prefix + mount_path, name)
        elif isinstance(route, Route):
            yield prefix + route.path_format, service, route


def _meta(route: Route) -> EndpointMeta | None:
    meta = getattr(route.endpoint, "api_meta", None)
    return meta if isinstance(meta, EndpointMeta) else None


def _schema_30(schema: Any) -> Any:
    """JSON Schema 2020-12 (what `@endpoint` validates with) to the OpenAPI 3.0 dialect.

    3.0 has no type lists, no `null` type and no `const`: `["string", "null"]` becomes
    `type: string, nullable: true`, several types an `anyOf`, `const` a one-value enum.
    """
    if isinstance(schema, list):
        return [_schema_30(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("$schema", "$id"):
            continue
        if key in ("properties", "patternProperties", "$defs", "definitions"):
            out[key] = {name: _schema_30(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else"):
            out[key] = _schema_30(value)
        elif key in ("allOf", "anyOf", "oneOf", "prefixItems"):
            out[key] = [_schema_30(sub) for sub in value]
        elif key == "required" and not value:
            continue  # 3.0 wants at least one name in `required`
        elif key == "const":
            out["enum"] = [value]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            # 2020-12 gives the bound itself; 3.0 gives a flag beside minimum/maximum.
            out["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            out[key] = True
        else:
            out[key] = value
    types = out.get("type")
    if isinstance(types, list):
        nullable = "null" in types
        rest = [t for t in types if t != "null"]
        del out["type"]
        if len(rest) == 1:
            out["type"] = rest[0]
        elif rest:
            # Keywords for one type only apply to that type, so they may stay beside the anyOf.
            out["anyOf"] = [{"type": t} for t in rest]
        if nullable:
            out["nullable"] = True
    elif types == "null":
        del out["type"]
        out["nullable"] = True
        out["enum"] = [None]
    return out


def _operation_id(method: str, path: str) -> str:
    words = re.sub(r"[{}]", "", path).strip("/").replace("-", "_")
    slash = "_slash" if path.endswith("/") and path != "/" else ""  # /v3 and /v3/ are two routes
    return f"{method}_{re.sub(r'[^A-Za-z0-9_]+', '_', words).strip('_') or 'root'}{slash}"


def _is_binary(route: Route, meta: EndpointMeta | None, method: str) -> bool:
    if meta is not None:
        return any(ct in BINARY_MEDIA_TYPES for ct in meta.content_types)
    # A plain route may say what it takes (as `@endpoint` does with content_types).
    declared = getattr(route.endpoint, "content_types", None)
    if declared:
        return any(ct in BINARY_MEDIA_TYPES for ct in declared)
    # Otherwise: a route that takes a body but bypasses `@endpoint` (which reads and
    # parses whole JSON bodies) does so to stream data, as image upload and stage do.
    return method in ("put", "post")


def _body_schema(meta: EndpointMeta, media_type: str) -> dict[str, Any]:
    if meta.body_schema is not None:
        return _schema_30(meta.body_schema)
    if "json-patch" in media_type:
        return {"type": "array", "items": {"type": "object"}}
    return {"type": "object"}


def _operation(method: str, path: str, service: str | None, route: Route) -> dict[str, Any]:
    meta = _meta(route)
    endpoint = route.endpoint
    summary = meta.summary if meta else ((endpoint.__doc__ or "").strip().splitlines() or [""])[0]
    op: dict[str, Any] = {"operationId": _operation_id(method, path)}
    if service:
        op["tags"] = [service]
    if summary:
        op["summary"] = summary
    op["x-handler"] = getattr(endpoint, "__name__", "")
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in PATH_PARAM.findall(path)
    ]
    if params:
        op["parameters"] = params
    binary = _is_binary(route, meta, method)
    if method in ("post", "put", "patch"):
        if binary:
            op["requestBody"] = {
                "required": True,
                "content": {ct: {"schema": {"type": "string", "format": "binary"}} for ct in BINARY_MEDIA_TYPES},
            }
        elif meta is not None and meta.json_body:
            op["requestBody"] = {
                "required": meta.body_schema is not None,
                "content": {
                    ct: {"schema": _body_schema(meta, ct)} for ct in meta.content_types if ct not in BINARY_MEDIA_TYPES
                },
            }
    responses: dict[str, Any] = {}
    if meta is not None:
        responses[str(meta.success_status)] = {"description": "success"}
    else:
        responses["default"] = {"description": "the answer (this route has no declared status)"}
    for status in ERROR_STATUSES:
        responses.setdefault(status, {"description": "error"})
    op["responses"] = responses
    if meta is not None:
        op["security"] = [{AUTH_SCHEME: []}] if meta.auth else [{}, {AUTH_SCHEME: []}]
    return op


def openapi_document(app: Any, *, title: str = "gureum", server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.0 document for `app` (the root app, or middleware wrapping it)."""
    paths: dict[str, dict[str, Any]] = {}
    services: list[str] = []
    operation_ids: set[str] = set()
    for path, service, route in _walk(_routes_of(app), "", None):
        if service and service not in services:
            services.append(service)
        methods = sorted(
            (m.lower() for m in (route.methods or {"GET"})),
            key=lambda m: METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER),
        )
        item = paths.setdefault(path, {})
        for method in methods:
            if method == "head" and "get" in methods:
                # Starlette adds HEAD to every GET route; describe HEAD only where a route declares it alone.
                continue
            if method in item:
                continue  # an earlier route wins, as in Starlette's routing
            op = item[method] = _operation(method, path, service, route)
            base, n = op["operationId"], 2
            while op["operationId"] in operation_ids:
                op["operationId"], n = f"{base}_{n}", n + 1
            operation_ids.add(op["operationId"])
    doc: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": __version__,
            "description": "The OpenStack APIs gureum serves, generated from its route tables.",
        },
        "paths": paths,
        "components": {"securitySchemes": SECURITY_SCHEMES},
        "tags": [{"name": name} for name in services],
    }
    if server_url is not None:
        doc["servers"] = [{"url": server_url}]
    return doc


async def openapi_json(request: Any) -> Any:
    """`GET /openapi.json` on the root app: the document of the app that routed the request."""
    from starlette.responses import JSONResponse  # noqa: PLC0415

    root = request.scope.get("app")
    doc = _CACHE.get(id(root))
    if doc is None:
        doc = _CACHE[id(root)] = openapi_document(root)
    return JSONResponse(doc)


_CACHE: dict[int, dict[str, Any]] = {}
