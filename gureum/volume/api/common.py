"""What the block storage endpoints share: the microversion, the query, the roots for links."""

from __future__ import annotations

from gureum.http.endpoint import ApiRequest
from gureum.http.errors import NotFound
from gureum.volume.microversion import Microversion

MICROVERSION_SCOPE_KEY = "gureum.volume.microversion"


def microversion(req: ApiRequest) -> Microversion:
    return req.request.scope[MICROVERSION_SCOPE_KEY]


def require_version(req: ApiRequest, minor: int) -> Microversion:
    """An API that exists only from 3.`minor`: below it Cinder answers 404."""
    version = microversion(req)
    if not version.at_least(minor):
        raise NotFound("The resource could not be found.")
    return version


def params(req: ApiRequest) -> dict[str, str]:
    """The query as a dict (the last value wins, as webob's GET does)."""
    return dict(req.query.items())


def root(req: ApiRequest) -> str:
    return req.base_url


def request_url(req: ApiRequest) -> str:
    """The URL as the client sent it (with its project segment, if it had one), without the query."""
    url = req.request.url
    path = req.request.scope.get("gureum.volume.original_path", url.path)
    return f"{url.scheme}://{url.netloc}{path}"


def flag(req: ApiRequest, name: str) -> bool:
    return req.query.get(name, "").strip().lower() in ("1", "true", "t", "yes", "y", "on")
