"""API errors, and how each OpenStack service renders them.

Services raise `ApiError` (or a subclass); the app of each service renders it
in the body its OpenStack counterpart uses, so clients parse our errors as theirs.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from http import HTTPStatus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response


class ApiError(Exception):
    status = 500

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.headers = headers or {}
        # A machine-readable error name where the API has one (neutron's "type").
        self.kind = kind

    @property
    def title(self) -> str:
        try:
            return HTTPStatus(self.status).phrase
        except ValueError:
            return "Error"


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class MethodNotAllowed(ApiError):
    status = 405


class NotAcceptable(ApiError):
    status = 406


class Conflict(ApiError):
    status = 409


class Gone(ApiError):
    status = 410


class PreconditionFailed(ApiError):
    status = 412


class PayloadTooLarge(ApiError):
    status = 413


class UnsupportedMediaType(ApiError):
    status = 415


class RangeNotSatisfiable(ApiError):
    status = 416


class TooManyRequests(ApiError):
    status = 429


class ServiceUnavailable(ApiError):
    status = 503


ErrorRenderer = Callable[[Request, ApiError], Response]


def render_keystone(_request: Request, exc: ApiError) -> Response:
    body = {"error": {"code": exc.status, "title": exc.title, "message": exc.message}}
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


def render_webob(request: Request, exc: ApiError) -> Response:
    """Glance answers through webob: JSON when asked for it, else a small HTML page."""
    code = f"{exc.status} {exc.title}"
    if "application/json" in request.headers.get("accept", ""):
        body = {"message": exc.message, "code": code, "title": exc.title}
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)
    page = (
        f"<html>\n <head>\n  <title>{code}</title>\n </head>\n <body>\n"
        f"  <h1>{code}</h1>\n  {html.escape(exc.message)}<br /><br />\n\n\n\n </body>\n</html>"
    )
    return Response(page, status_code=exc.status, headers=exc.headers, media_type="text/html")


NOVA_FAULT_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    406: "notAcceptable",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}


def render_nova(_request: Request, exc: ApiError) -> Response:
    name = NOVA_FAULT_NAMES.get(exc.status, "computeFault")
    return JSONResponse(
        {name: {"code": exc.status, "message": exc.message}},
        status_code=exc.status,
        headers=exc.headers,
    )


def render_neutron(_request: Request, exc: ApiError) -> Response:
    kind = exc.kind or exc.title.replace(" ", "")
    body = {"NeutronError": {"type": kind, "message": exc.message, "detail": ""}}
    return JSONResponse(body, status_code=exc.status, headers=exc.headers)


# Cinder's faults (cinder/api/openstack/wsgi.py): Nova's names, but a 406 is a
# computeFault there and an exceeded quota is a 413 overLimit.
CINDER_FAULT_NAMES = {k: v for k, v in NOVA_FAULT_NAMES.items() if k != 406}


def render_cinder(_request: Request, exc: ApiError) -> Response:
    name = CINDER_FAULT_NAMES.get(exc.status, "computeFault")
    return JSONResponse(
        {name: {"code": exc.status, "message": exc.message}},
        status_code=exc.status,
        headers=exc.headers,
    )
