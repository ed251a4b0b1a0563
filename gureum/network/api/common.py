"""What every network route shares: the service, sessions, neutron's list queries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gureum.http.endpoint import ApiRequest
from gureum.http.errors import BadRequest
from gureum.network.common import resource_body
from gureum.network.service import NetworkService, network_service

# Query parameters that shape a list rather than filter it.
LIST_CONTROLS = {"fields", "limit", "marker", "sort_key", "sort_dir", "page_reverse"}


def service(req: ApiRequest) -> NetworkService:
    return network_service(req.cloud)


def body_of(req: ApiRequest, key: str) -> dict[str, Any]:
    return resource_body(req.body, key)


def _matches(value: Any, wanted: list[str]) -> bool:
    if isinstance(value, bool):
        return str(value).lower() in [w.lower() for w in wanted]
    if isinstance(value, list):
        # A list attribute matches when it holds any wanted value (fixed_ips by 'ip_address=...').
        for item in value:
            if isinstance(item, dict):
                for w in wanted:
                    key, _, val = w.partition("=")
                    if str(item.get(key)) == val:
                        return True
            elif str(item) in wanted:
                return True
        return False
    if value is None:
        return any(w in ("", "None", "null") for w in wanted)
    return str(value) in wanted


def filtered(req: ApiRequest, items: list[dict[str, Any]], collection: str) -> dict[str, Any]:
    """Neutron's list semantics: attribute filters (repeated = any of), fields, sort, limit/marker."""
    filters: dict[str, list[str]] = {}
    for key, value in req.query.multi_items():
        if key not in LIST_CONTROLS:
            filters.setdefault(key, []).append(value)
    # Filters on attributes a resource does not have are ignored, as neutron does without
    # the filter-validation extension.
    result = [i for i in items if all(k not in i or _matches(i[k], v) for k, v in filters.items())]
    sort_keys = req.query.getlist("sort_key")
    sort_dirs = req.query.getlist("sort_dir")
    for index in reversed(range(len(sort_keys))):
        key = sort_keys[index]
        reverse = (sort_dirs[index] if index < len(sort_dirs) else "asc") == "desc"
        result.sort(key=lambda i: (i.get(key) is None, str(i.get(key))), reverse=reverse)
    links: list[dict[str, str]] = []
    marker = req.query.get("marker")
    if marker:
        ids = [i["id"] for i in result]
        if marker in ids:
            result = result[ids.index(marker) + 1:]
    limit = req.query.get("limit")
    if limit and limit.isdigit() and int(limit) > 0 and len(result) > int(limit):
        result = result[: int(limit)]
        url = req.request.url.remove_query_params("marker").include_query_params(marker=result[-1]["id"])
        links.append({"href": str(url), "rel": "next"})
    body: dict[str, Any] = {collection: [only_fields(req, i) for i in result]}
    if links:
        body[f"{collection}_links"] = links
    return body


def only_fields(req: ApiRequest, item: dict[str, Any]) -> dict[str, Any]:
    fields = req.query.getlist("fields")
    if not fields:
        return item
    return {k: v for k, v in item.items() if k in fields}


def in_session(req: ApiRequest, work: Callable[[Any, NetworkService], Any]) -> Any:
    with req.cloud.db.session() as session:
        return work(session, service(req))


CreateOne = Callable[[Any, NetworkService, dict[str, Any]], dict[str, Any]]


def create_one_or_bulk(req: ApiRequest, key: str, collection: str, create: CreateOne) -> dict[str, Any]:
    """POST on a collection: `{key: {...}}` makes one, `{collection: [...]}` makes them all.

    A bulk create runs every item through the same `create` in one session, so it is
    all or nothing, as in neutron: the first bad item's error is the answer and the
    rollback leaves none of the others behind. Items may be bare or wrapped in `{key: ...}`.
    """
    body = req.body
    if isinstance(body, dict) and collection in body:
        items = body[collection]
        if not isinstance(items, list):
            raise BadRequest(f"Invalid input for '{collection}': a bulk create needs a list of {key} objects.",
                             kind="HTTPBadRequest")
        if not items:
            raise BadRequest("Resources required", kind="HTTPBadRequest")
        wanted: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            if isinstance(item, dict) and set(item) == {key}:
                item = item[key]
            if not isinstance(item, dict):
                raise BadRequest(f"Invalid input for '{collection}': item {index} is not a {key} object.",
                                 kind="HTTPBadRequest")
            wanted.append(item)
        return {collection: in_session(req, lambda s, svc: [create(s, svc, attrs) for attrs in wanted])}
    attrs = body_of(req, key)
    return {key: in_session(req, lambda s, svc: create(s, svc, attrs))}
