"""/v2.1/os-security-groups and /os-security-group-rules: Nova's proxy onto networking.

Deprecated in Nova at 2.36: above it these paths answer 404 as Nova's do.
The service (compute/security_groups.py) enforces policy and translates.
"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.compute.api.common import microversion, query_bool
from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import BadRequest, NotFound

PROXY_MAX = 35  # Nova's MAX_PROXY_API_SUPPORT_VERSION


def _proxied(req: ApiRequest) -> None:
    if microversion(req).at_least(PROXY_MAX + 1):
        raise NotFound("The resource could not be found.")


def _group_body(req: ApiRequest) -> dict[str, Any]:
    body = req.body
    if not isinstance(body, dict) or not isinstance(body.get("security_group"), dict):
        raise BadRequest("The request body is invalid: 'security_group' is a required property")
    return body["security_group"]


@endpoint(summary="List security groups (proxy)")
def list_groups(req: ApiRequest) -> dict[str, Any]:
    _proxied(req)
    all_tenants = bool(query_bool(req.query.get("all_tenants"), "all_tenants" in req.query))
    groups = req.cloud.compute.list_nova_security_groups(req.context, all_tenants)
    offset = int(req.query.get("offset", 0) or 0) if str(req.query.get("offset", "0")).isdigit() else 0
    limit = req.query.get("limit")
    groups = groups[offset:]
    if limit is not None and str(limit).isdigit():
        groups = groups[:int(limit)]
    return {"security_groups": groups}


@endpoint(summary="Show a security group (proxy)")
def show_group(req: ApiRequest) -> dict[str, Any]:
    _proxied(req)
    return {"security_group": req.cloud.compute.show_nova_security_group(req.context, req.path["group_id"])}


@endpoint(json_body=True, summary="Create a security group (proxy)")
def create_group(req: ApiRequest) -> dict[str, Any]:
    _proxied(req)
    group = _group_body(req)
    return {"security_group": req.cloud.compute.create_nova_security_group(
        req.context, group.get("name"), group.get("description"))}


@endpoint(json_body=True, summary="Update a security group (proxy)")
def update_group(req: ApiRequest) -> dict[str, Any]:
    _proxied(req)
    group = _group_body(req)
    return {"security_group": req.cloud.compute.update_nova_security_group(
        req.context, req.path["group_id"], group.get("name"), group.get("description"))}


@endpoint(summary="Delete a security group (proxy)")
def delete_group(req: ApiRequest) -> Any:
    _proxied(req)
    req.cloud.compute.delete_nova_security_group(req.context, req.path["group_id"])
    return 202, None


@endpoint(json_body=True, summary="Create a security group rule (proxy)")
def create_rule(req: ApiRequest) -> dict[str, Any]:
    _proxied(req)
    body = req.body
    if not isinstance(body, dict) or not isinstance(body.get("security_group_rule"), dict):
        raise BadRequest("The request body is invalid: 'security_group_rule' is a required property")
    return {"security_group_rule": req.cloud.compute.create_nova_security_group_rule(
        req.context, body["security_group_rule"])}


@endpoint(summary="Delete a security group rule (proxy)")
def delete_rule(req: ApiRequest) -> Any:
    _proxied(req)
    req.cloud.compute.delete_nova_security_group_rule(req.context, req.path["rule_id"])
    return 202, None


@endpoint(summary="No security group named")
def no_group(req: ApiRequest) -> None:
    raise NotFound("The resource could not be found.")


def routes() -> list[BaseRoute]:
    return [
        # A trailing slash names no group: Nova's 404 (not the collection's 405).
        Route("/v2.1/os-security-groups/", no_group, methods=["GET", "PUT", "DELETE"]),
        Route("/v2.1/os-security-groups", list_groups, methods=["GET"]),
        Route("/v2.1/os-security-groups", create_group, methods=["POST"]),
        Route("/v2.1/os-security-groups/{group_id}", show_group, methods=["GET"]),
        Route("/v2.1/os-security-groups/{group_id}", update_group, methods=["PUT"]),
        Route("/v2.1/os-security-groups/{group_id}", delete_group, methods=["DELETE"]),
        Route("/v2.1/os-security-group-rules", create_rule, methods=["POST"]),
        Route("/v2.1/os-security-group-rules/{rule_id}", delete_rule, methods=["DELETE"]),
    ]
