"""What every network route shares: the service, bodies, neutron's list answers, and `crud_routes`.

A handler parses, calls one service method and renders; the service opens the
transaction and checks policy. `crud_routes` declares the five routes of a resource
(list, create with bulk, show, update, delete) once for all of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.http.endpoint import ApiRequest, EndpointMeta, endpoint
from gureum.http.errors import BadRequest
from gureum.network.attributes import Resource
from gureum.network.common import resource_body
from gureum.network.listing import ListQuery, Page
from gureum.network.service import NetworkService, network_service


def service(req: ApiRequest) -> NetworkService:
    return network_service(req.cloud)


def body_of(req: ApiRequest, key: str) -> dict[str, Any]:
    return resource_body(req.body, key)


def list_query(req: ApiRequest) -> ListQuery:
    return ListQuery.from_params(req.query.multi_items())


def only_fields(req: ApiRequest, item: dict[str, Any]) -> dict[str, Any]:
    fields = req.query.getlist("fields")
    if not fields:
        return item
    return {k: v for k, v in item.items() if k in fields}


def render_list(req: ApiRequest, collection: str, items: list[dict[str, Any]], page: Page) -> dict[str, Any]:
    """`{collection: [...]}` with Neutron's `<collection>_links` (rel next / previous) when paging."""
    body: dict[str, Any] = {collection: [only_fields(req, i) for i in items]}
    url = req.request.url.remove_query_params(["marker", "page_reverse"])
    links = []
    if page.next_marker:
        links.append({"href": str(url.include_query_params(marker=page.next_marker)), "rel": "next"})
    if page.previous_marker:
        links.append({"href": str(url.include_query_params(marker=page.previous_marker, page_reverse="True")),
                      "rel": "previous"})
    if links:
        body[f"{collection}_links"] = links
    return body


def bulk_items(req: ApiRequest, key: str, collection: str) -> list[dict[str, Any]] | None:
    """The items of a bulk create (`{collection: [...]}`, bare or wrapped in `{key: ...}`), else None."""
    body = req.body
    if not (isinstance(body, dict) and collection in body):
        return None
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
    return wanted


def documented(handler: Callable[..., Any], schema: dict[str, Any]) -> Callable[..., Any]:
    """Show `schema` in the OpenAPI document without checking bodies against it (the service does,
    in neutron's words)."""
    meta = handler.api_meta  # type: ignore[attr-defined]
    assert isinstance(meta, EndpointMeta)
    handler.api_meta = dataclasses.replace(meta, body_schema=schema)  # type: ignore[attr-defined]
    return handler


def crud_routes(path: str, resource: Resource, collection: str, id_name: str, *, bulk: bool = False,
                update: bool = True) -> list[BaseRoute]:
    """GET/POST on `path`, GET/PUT/DELETE on `path/{id}`, for one resource of the network service."""
    key = resource.name
    words = key.replace("_", " ")

    @endpoint()
    def list_all(req: ApiRequest) -> Any:
        items, page = service(req).list(req.context, key, list_query(req))
        return render_list(req, collection, items, page)

    @endpoint(json_body=True, status=201)
    def create(req: ApiRequest) -> Any:
        items = bulk_items(req, key, collection) if bulk else None
        if items is not None:
            return {collection: service(req).create_many(req.context, key, items)}
        return {key: service(req).create(req.context, key, body_of(req, key))}

    @endpoint()
    def show(req: ApiRequest) -> Any:
        return {key: only_fields(req, service(req).show(req.context, key, req.path[id_name]))}

    @endpoint(json_body=True)
    def change(req: ApiRequest) -> Any:
        return {key: service(req).update(req.context, key, req.path[id_name], body_of(req, key))}

    @endpoint(status=204)
    def delete(req: ApiRequest) -> None:
        service(req).delete(req.context, key, req.path[id_name])

    for handler, verb in ((list_all, f"List {words}s."), (create, f"Create a {words}" + (
            ", or several in one transaction (bulk)." if bulk else ".")), (show, f"Show a {words}."),
            (change, f"Update a {words}."), (delete, f"Delete a {words}.")):
        handler.__name__ = f"{handler.__name__}_{key}"
        meta = handler.api_meta  # type: ignore[attr-defined]
        handler.api_meta = dataclasses.replace(meta, summary=verb)  # type: ignore[attr-defined]
    documented(create, resource.body_schema("POST"))
    documented(change, resource.body_schema("PUT"))
    member = f"{path}/{{{id_name}}}"
    routes: list[BaseRoute] = [
        Route(path, list_all, methods=["GET"]),
        Route(path, create, methods=["POST"]),
        Route(member, show, methods=["GET"]),
    ]
    if update:
        routes.append(Route(member, change, methods=["PUT"]))
    routes.append(Route(member, delete, methods=["DELETE"]))
    return routes
