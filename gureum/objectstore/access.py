"""Who may do what to an account, as Swift's keystoneauth decides it.

- `ResellerAdmin` owns every account.
- `admin` or `member` on the account's project owns it (Swift's operator roles).
- `reader` on the account's project may GET and HEAD.
- Then the container's ACLs: `.r:*`/`.r:<host>` referrers and `.rlistings` for
  reads, `<project>:<user>`, `<project>:*`, `*:<user>` and role names for both.
Nobody else gets anything: a caller without a token gets 401, one with another
project's token 403.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlparse

from gureum.http.context import RequestContext
from gureum.http.errors import Forbidden, Unauthorized

OPERATOR_ROLES = frozenset({"admin", "member"})
READER_ROLES = frozenset({"reader"})
RESELLER_ROLE = "reselleradmin"

UNAUTHORIZED_BODY = "This server could not verify that you are authorized to access the document you requested."
FORBIDDEN_BODY = "Access was denied to this resource."


@dataclass(frozen=True)
class TempUrlParams:
    """A TempURL's query: checked by the service against the account's keys."""

    signature: str
    expires: str
    path: str  # the request path as the client sent it
    method: str
    object_name: str
    prefix: str | None = None


@dataclass(frozen=True)
class Caller:
    """The authenticated context (or none), plus what an anonymous request may carry."""

    ctx: RequestContext | None
    referrer: str = ""
    tempurl: TempUrlParams | None = None
    granted: set[str] = field(default_factory=set, compare=False)

    def roles(self) -> frozenset[str]:
        return frozenset(r.lower() for r in self.ctx.roles) if self.ctx else frozenset()

    def is_reseller(self) -> bool:
        return RESELLER_ROLE in self.roles()

    def owns(self, project_id: str) -> bool:
        if self.ctx is None:
            return False
        if self.is_reseller():
            return True
        return self.ctx.project_id == project_id and bool(self.roles() & OPERATOR_ROLES)

    def reads(self, project_id: str) -> bool:
        if self.owns(project_id):
            return True
        return self.ctx is not None and self.ctx.project_id == project_id and bool(self.roles() & READER_ROLES)

    def denied(self) -> Exception:
        if self.ctx is None:
            return Unauthorized(UNAUTHORIZED_BODY)
        return Forbidden(FORBIDDEN_BODY)


def parse_acl(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _referrer_allowed(entries: list[str], referrer: str) -> bool:
    host = urlparse(referrer).hostname or "" if referrer else ""
    allowed = False
    for entry in entries:
        if not entry.startswith(".r:"):
            continue
        pattern = entry[3:]
        negate = pattern.startswith("-")
        pattern = pattern.lstrip("-")
        if pattern == "*":
            match = True
        elif pattern.startswith("."):
            match = bool(host) and (host.endswith(pattern) or host == pattern[1:])
        else:
            match = host == pattern
        if match:
            allowed = not negate
    return allowed


def _identity_allowed(entries: list[str], caller: Caller, project_id: str) -> bool:
    ctx = caller.ctx
    if ctx is None:
        return False
    roles = caller.roles()
    for entry in entries:
        if entry.startswith("."):
            continue
        if ":" in entry:
            project, user = entry.split(":", 1)
            project_ok = project in ("*", ctx.project_id, ctx.project_name)
            user_ok = user in ("*", ctx.user_id, ctx.user_name)
            if project_ok and user_ok:
                return True
        elif entry.lower() in roles and ctx.project_id == project_id:
            # A role name grants only within the account's own project.
            return True
    return False


def acl_allows_read(acl: str | None, caller: Caller, project_id: str, listing: bool) -> bool:
    entries = parse_acl(acl)
    if _identity_allowed(entries, caller, project_id):
        return True
    if listing and ".rlistings" not in entries:
        return False
    return _referrer_allowed(entries, caller.referrer)


def acl_allows_write(acl: str | None, caller: Caller, project_id: str) -> bool:
    return _identity_allowed(parse_acl(acl), caller, project_id)
