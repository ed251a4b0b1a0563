"""Helpers the fuzz tests share: the document, seeding path parameters, error formats."""

from __future__ import annotations

import json
import os
import re
import zlib
from typing import Any

import httpx

from gureum.openapi import PATH_PARAM, openapi_document

__all__ = ["PATH_PARAM", "document_from_routes", "error_format_problem", "seeded", "service_of"]

# The services fuzzed by default. Compute is left out on purpose: a case that happens
# to be a valid server create boots a real guest (seconds of CPU, ~240 MB each).
FUZZ_SERVICES = tuple(os.environ.get("GUREUM_FUZZ_SERVICES", "identity,image").split(","))

# Each service's error body, as its OpenStack counterpart renders it.
ERROR_FORMATS = {"identity": "keystone", "image": "webob", "compute": "nova", "volume": "nova",
                 "network": "neutron", "agent": "keystone"}
HTML_ERROR = re.compile(r"<h1>\d{3} [^<]*</h1>", re.S)


def _root_app() -> Any:
    from gureum.app import build_app  # noqa: PLC0415

    # build_app only hands the cloud to requests; reading its route tables needs none.
    return build_app(None)  # type: ignore[arg-type]


def document_from_routes(services: tuple[str, ...] = FUZZ_SERVICES) -> dict[str, Any]:
    """The OpenAPI document of the app `gureum up` serves, cut to `services`."""
    doc = openapi_document(_root_app())
    doc["paths"] = {path: item for path, item in doc["paths"].items() if service_of(path) in services}
    return doc


def root_renders_errors() -> bool:
    """Whether the root app renders its own 404s in a service's format (root_error_handlers)."""
    from starlette.exceptions import HTTPException  # noqa: PLC0415

    app = _root_app()
    while not hasattr(app, "exception_handlers") and hasattr(app, "app"):
        app = app.app
    return HTTPException in getattr(app, "exception_handlers", {})


ROOT_RENDERS_ERRORS = root_renders_errors()


def service_of(path: str) -> str:
    return path.lstrip("/").split("/", 1)[0]


def seeded(name: str, generated: Any, ids: dict[str, list[str]]) -> Any:
    """Half the time (chosen by the generated value, so runs repeat) a real id in its place."""
    known = ids.get(name)
    if not known or not isinstance(generated, str):
        return generated
    pick = zlib.crc32(generated.encode("utf-8", "surrogatepass"))
    if pick % 2:
        return generated
    return known[(pick >> 1) % len(known)]


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def error_format_problem(service: str, status: int, headers: httpx.Headers | dict[str, Any], body: bytes,
                         accept_json: bool) -> str | None:
    """None when a 4xx body is in the format the service's OpenStack counterpart uses, else why not."""
    if not 400 <= status < 500:
        return None
    ctype = str(headers.get("content-type", "")).lower()
    if not ROOT_RENDERS_ERRORS and status == 404 and body == b"Not Found" and ctype.startswith("text/plain"):
        # Known, reported: a path no mount pattern matches (a newline in a path parameter)
        # gets Starlette's plain 404 from the root app until gureum/app.py installs
        # gureum.http.service_app.root_error_handlers. Then this allowance turns itself off.
        return None
    kind = ERROR_FORMATS.get(service, "keystone")
    doc = _json(body)
    shown = body[:200]
    if kind == "keystone":
        err = doc.get("error") if isinstance(doc, dict) else None
        if not isinstance(err, dict) or not {"code", "title", "message"} <= err.keys():
            return f"{status} body is not keystone's {{'error': {{code, title, message}}}}: {shown!r}"
        if err["code"] != status:
            return f"{status} answer whose body says code {err['code']}"
        return None
    if kind == "webob":
        if "json" in ctype:
            if not isinstance(doc, dict) or not {"code", "title", "message"} <= doc.keys():
                return f"{status} JSON body is not webob's {{code, title, message}}: {shown!r}"
            return None
        if "html" not in ctype or not HTML_ERROR.search(body.decode("utf-8", "replace")):
            return f"{status} body is not webob's HTML page ({ctype!r}): {shown!r}"
        if accept_json:
            return f"{status} was asked for JSON, answered {ctype!r}"
        return None
    if kind == "nova":
        if not isinstance(doc, dict) or len(doc) != 1:
            return f"{status} body is not nova's {{fault: {{code, message}}}}: {shown!r}"
        fault = next(iter(doc.values()))
        if not isinstance(fault, dict) or not {"code", "message"} <= fault.keys():
            return f"{status} body is not nova's {{fault: {{code, message}}}}: {shown!r}"
        return None
    if kind == "neutron":
        err = doc.get("NeutronError") if isinstance(doc, dict) else None
        if not isinstance(err, dict) or not {"type", "message", "detail"} <= err.keys():
            return f"{status} body is not neutron's {{NeutronError: {{type, message, detail}}}}: {shown!r}"
        return None
    return None
