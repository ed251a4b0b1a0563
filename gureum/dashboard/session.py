"""Who is looking: the Keystone token in an HttpOnly cookie, and the CSRF check.

The cookie is scoped to /dashboard; the API mounts never read cookies, so it cannot be
replayed against /compute and the rest. Nothing is stored on the server: any controller
validates the Fernet token itself.

CSRF: a change (any non-GET, and every websocket) must come from our own origin and carry
an HMAC of the token's audit id keyed by the token itself. A page script cannot compute it
(the token is HttpOnly) and another site cannot read it; it changes with every login.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import RedirectResponse, Response

from gureum.dashboard.client import APP_SCOPE_KEY, ApiClient

COOKIE = "gureum_token"
PREFIX = "/dashboard"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


@dataclass
class Viewer:
    """The validated token, as GET /v3/auth/tokens describes it."""

    token: str
    user: dict[str, Any]
    project: dict[str, Any] | None
    roles: list[str]
    audit_id: str
    expires_at: datetime | None
    catalog: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def csrf(self) -> str:
        return csrf_for(self.token, self.audit_id)

    def has_service(self, service_type: str) -> bool:
        return any(entry.get("type") == service_type for entry in self.catalog)

    def endpoint(self, service_type: str) -> str | None:
        """Path part of the public endpoint of a service type (calls stay in-process)."""
        for entry in self.catalog:
            if entry.get("type") == service_type:
                for endpoint in entry.get("endpoints", []):
                    if endpoint.get("interface") == "public":
                        return urlsplit(endpoint["url"]).path.rstrip("/")
        return None


def csrf_for(token: str, audit_id: str) -> str:
    return hmac.new(token.encode(), b"dashboard-csrf:" + audit_id.encode(), hashlib.sha256).hexdigest()


def client_for(conn: HTTPConnection, token: str | None) -> ApiClient:
    return ApiClient(conn.scope[APP_SCOPE_KEY], token, conn.scope)


def token_of(conn: HTTPConnection) -> str | None:
    return conn.cookies.get(COOKIE) or None


async def viewer_of(conn: HTTPConnection) -> Viewer | None:
    """The cookie's token if it is still valid (else None: the caller sends to login)."""
    token = token_of(conn)
    if not token:
        return None
    response = await client_for(conn, token).call(
        "GET", "/identity/v3/auth/tokens", headers={"x-subject-token": token})
    if response.status != 200:
        return None
    data = response.json()["token"]
    expires = data.get("expires_at")
    return Viewer(
        token=token,
        user=data["user"],
        project=data.get("project"),
        roles=[role["name"] for role in data.get("roles", [])],
        audit_id=(data.get("audit_ids") or [""])[0],
        expires_at=datetime.fromisoformat(expires.replace("Z", "+00:00")) if expires else None,
        catalog=data.get("catalog", []),
    )


def own_origin(conn: HTTPConnection) -> str:
    host = conn.headers.get("host", "")
    scheme = "https" if conn.url.scheme in ("https", "wss") else "http"
    return f"{scheme}://{host}"


def origin_ok(conn: HTTPConnection) -> bool:
    """The Origin (or, lacking it, the Referer) names this very site."""
    origin = conn.headers.get("origin")
    if origin is None:
        referer = conn.headers.get("referer")
        if referer is None:
            return False
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    return origin == own_origin(conn)


def csrf_ok(conn: HTTPConnection, viewer: Viewer | None, sent: str | None) -> bool:
    if not origin_ok(conn):
        return False
    if viewer is None:
        return True  # the login form: nothing to steal yet, the origin check suffices
    return bool(sent) and hmac.compare_digest(sent, viewer.csrf)


def set_token_cookie(response: Response, conn: HTTPConnection, token: str, expires_at: str | None) -> None:
    max_age = 3600
    if expires_at:
        expiry = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
        max_age = max(0, int((expiry - datetime.now(timezone.utc)).total_seconds()))
    response.set_cookie(COOKIE, token, max_age=max_age, path=PREFIX, httponly=True, samesite="strict",
                        secure=conn.url.scheme == "https")


def clear_token_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")


def to_login(conn: HTTPConnection, expired: bool = False) -> Response:
    """Send the user to the login page and keep the page they wanted."""
    wanted = conn.url.path + (f"?{conn.url.query}" if conn.url.query else "")
    target = f"{PREFIX}/login?next={quote(wanted, safe='')}" + ("&expired=1" if expired else "")
    if conn.headers.get("hx-request"):
        # htmx follows redirects into the swapped element; ask it to load the page instead.
        response: Response = Response(status_code=204, headers={"HX-Redirect": target})
    else:
        response = RedirectResponse(target, status_code=303)
    if expired:
        clear_token_cookie(response)
    return response


def safe_next(value: str | None) -> str:
    """Only a path inside the dashboard: never an open redirect."""
    if value and value.startswith(PREFIX + "/") and not value.startswith("//") and "\\" not in value:
        return value
    return PREFIX + "/"


def headers_of(scope: dict[str, Any]) -> Headers:
    return Headers(scope=scope)
