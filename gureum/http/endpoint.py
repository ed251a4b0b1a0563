"""Endpoints: thin async shells around synchronous service code.

An endpoint reads and checks the body on the event loop, then authenticates and
runs the handler in a worker thread (services use blocking database sessions).
Handlers get an `ApiRequest` and return a Response, a JSON-able body, a
`(status, body)` / `(status, body, headers)` tuple, or None for 204.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import jsonschema
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest, PayloadTooLarge, Unauthorized, UnsupportedMediaType

if TYPE_CHECKING:
    from gureum.cloud import Cloud

CLOUD_SCOPE_KEY = "gureum.cloud"


@dataclass
class ApiRequest:
    request: Request
    cloud: "Cloud"
    ctx: RequestContext | None
    path: dict[str, Any]
    query: QueryParams
    headers: Headers
    body: Any = None

    @property
    def context(self) -> RequestContext:
        """The authenticated caller; endpoints declared auth=True always have one."""
        assert self.ctx is not None
        return self.ctx

    @property
    def base_url(self) -> str:
        """This service's root URL as the client reached it (for links)."""
        return service_root(self.request)


@dataclass(frozen=True)
class EndpointMeta:
    auth: bool
    json_body: bool
    body_schema: dict[str, Any] | None
    summary: str
    success_status: int
    content_types: tuple[str, ...] = field(default=("application/json",))


Handler = Callable[[ApiRequest], Any]


def service_root(request: Request) -> str:
    """Scheme, host and mount point of the service this request went to."""
    url = request.url
    return f"{url.scheme}://{url.netloc}{request.scope.get('root_path', '')}".rstrip("/")


def cloud_of(request: Request) -> "Cloud":
    return request.scope[CLOUD_SCOPE_KEY]


async def read_json_body(request: Request, limit: int, content_types: tuple[str, ...]) -> Any:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"Request body is {length} bytes; the limit is {limit} bytes.")
    chunks = bytearray()
    async for chunk in request.stream():
        chunks.extend(chunk)
        if len(chunks) > limit:
            raise PayloadTooLarge(f"Request body is over the limit of {limit} bytes.")
    if not chunks.strip():
        return None
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if ctype and ctype not in content_types and not ctype.endswith("+json") and ctype != "text/plain":
        raise UnsupportedMediaType(f"Unsupported Content-Type {ctype!r}; send {content_types[0]}.")
    try:
        body = json.loads(bytes(chunks), parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError as exc:
        raise BadRequest("Malformed request body: JSON nested too deeply.") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Malformed request body: not valid JSON ({exc}).") from exc
    if chunks.count(b"{") + chunks.count(b"[") > MAX_JSON_DEPTH and _depth_over(body, MAX_JSON_DEPTH):
        # Services walk bodies recursively (validation, deepcopy): bound the depth here.
        raise BadRequest(f"Malformed request body: JSON nested deeper than {MAX_JSON_DEPTH} levels.")
    if b"\\u0000" in chunks:
        where = _nul_at(body)
        if where is not None:
            # PostgreSQL refuses NUL in text (a DataError, so a 500); no field needs one.
            raise BadRequest(f"Invalid input for field '{where}': NUL characters are not allowed.")
    if _SURROGATE_ESCAPE.search(chunks):
        # "\ud800" alone parses to a str no database or encoder can take; pairs are fine.
        try:
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise BadRequest("Malformed request body: a string holds an unpaired UTF-16 surrogate.") from exc
    return body


MAX_JSON_DEPTH = 64


def _depth_over(body: Any, limit: int) -> bool:
    stack = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _nul_at(body: Any) -> str | None:
    """Where (dotted path) a key or string in the body holds a NUL, if anywhere."""
    stack: list[tuple[Any, str]] = [(body, "")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return where or "request body"
        elif isinstance(value, dict):
            for key, child in value.items():
                path = f"{where}.{key}" if where else str(key)
                if "\x00" in key:
                    return path.replace("\x00", "\\0")
                stack.append((child, path))
        elif isinstance(value, list):
            stack.extend((child, f"{where}.{i}" if where else str(i)) for i, child in enumerate(value))
    return None


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259); stored, they would make every later
    # answer that shows the record fail to render.
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _describe_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "request body"


def validate_body(body: Any, schema: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(body))
    if error is None:
        return
    where = _describe_path(error)
    if error.validator == "additionalProperties":
        raise BadRequest(f"Invalid input for field '{where}': {error.message}")
    if error.validator == "required":
        raise BadRequest(f"Invalid input for field '{where}': {error.message}")
    raise BadRequest(f"Invalid input for field '{where}': {error.message}")


def to_response(result: Any, default_status: int) -> Response:
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(status_code=204)
    if isinstance(result, tuple):
        status, body, *rest = result
        headers = rest[0] if rest else None
        if body is None:
            return Response(status_code=status, headers=headers)
        return JSONResponse(body, status_code=status, headers=headers)
    return JSONResponse(result, status_code=default_status)


def endpoint(
    *,
    auth: bool = True,
    json_body: bool = False,
    schema: dict[str, Any] | None = None,
    status: int = 200,
    summary: str = "",
    content_types: tuple[str, ...] = ("application/json",),
) -> Callable[[Handler], Callable[[Request], Any]]:
    """Declare an endpoint. `schema` (JSON Schema) checks the body and feeds the OpenAPI doc."""

    def decorate(handler: Handler) -> Callable[[Request], Any]:
        async def asgi_endpoint(request: Request) -> Response:
            cloud = cloud_of(request)
            body = None
            if json_body or schema is not None:
                body = await read_json_body(request, cloud.settings.max_json_body_bytes, content_types)
                if schema is not None:
                    validate_body(body, schema)
            api_request = ApiRequest(
                request=request,
                cloud=cloud,
                ctx=None,
                path=dict(request.path_params),
                query=request.query_params,
                headers=request.headers,
                body=body,
            )
            result = await run_in_threadpool(_authenticate_and_call, handler, api_request, auth)
            return to_response(result, status)

        asgi_endpoint.__name__ = handler.__name__
        asgi_endpoint.__doc__ = handler.__doc__
        asgi_endpoint.api_meta = EndpointMeta(  # type: ignore[attr-defined]
            auth=auth,
            json_body=json_body or schema is not None,
            body_schema=schema,
            summary=summary or (handler.__doc__ or handler.__name__).strip().splitlines()[0],
            success_status=status,
            content_types=content_types,
        )
        return asgi_endpoint

    return decorate


def authenticate(request: Request, cloud: "Cloud") -> RequestContext:
    token = request.headers.get("x-auth-token")
    if not token:
        raise Unauthorized("The request you have made requires authentication.")
    return cloud.identity.context_for_token(
        token,
        remote_addr=request.client.host if request.client else "",
        request_id=request.scope.get("gureum.request_id", ""),
    )


def _authenticate_and_call(handler: Handler, api_request: ApiRequest, auth: bool) -> Any:
    if auth:
        api_request.ctx = authenticate(api_request.request, api_request.cloud)
    elif api_request.headers.get("x-auth-token"):
        # Optional auth: a valid token adds a context, a bad one is ignored here.
        try:
            api_request.ctx = authenticate(api_request.request, api_request.cloud)
        except Exception:  # noqa: BLE001 - the handler decides what an anonymous caller may do
            api_request.ctx = None
    return handler(api_request)
