"""/v2.0/security-groups and /v2.0/security-group-rules"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.network.api.common import body_of, filtered, in_session, only_fields


@endpoint()
def list_groups(req: ApiRequest) -> Any:
    """List security groups."""
    return filtered(req, in_session(req, lambda s, svc: svc.list_security_groups(s, req.context)), "security_groups")


@endpoint(json_body=True, status=201)
def create_group(req: ApiRequest) -> Any:
    """Create a security group."""
    attrs = body_of(req, "security_group")
    return {"security_group": in_session(req, lambda s, svc: svc.create_security_group(s, req.context, attrs))}


@endpoint()
def show_group(req: ApiRequest) -> Any:
    """Show a security group."""
    def work(s: Any, svc: Any) -> Any:
        return svc.sg_view(s, svc.get_sg_row(s, req.context, req.path["sg_id"]))
    return {"security_group": only_fields(req, in_session(req, work))}


@endpoint(json_body=True)
def update_group(req: ApiRequest) -> Any:
    """Update a security group."""
    attrs = body_of(req, "security_group")
    return {"security_group": in_session(
        req, lambda s, svc: svc.update_security_group(s, req.context, req.path["sg_id"], attrs))}


@endpoint(status=204)
def delete_group(req: ApiRequest) -> None:
    """Delete a security group."""
    in_session(req, lambda s, svc: svc.delete_security_group(s, req.context, req.path["sg_id"]))


@endpoint()
def list_rules(req: ApiRequest) -> Any:
    """List security group rules."""
    return filtered(req, in_session(req, lambda s, svc: svc.list_rules(s, req.context)), "security_group_rules")


@endpoint(json_body=True, status=201)
def create_rule(req: ApiRequest) -> Any:
    """Create a security group rule."""
    attrs = body_of(req, "security_group_rule")
    return {"security_group_rule": in_session(req, lambda s, svc: svc.create_rule(s, req.context, attrs))}


@endpoint()
def show_rule(req: ApiRequest) -> Any:
    """Show a security group rule."""
    def work(s: Any, svc: Any) -> Any:
        return svc.rule_view(svc.get_rule_row(s, req.context, req.path["rule_id"]))
    return {"security_group_rule": only_fields(req, in_session(req, work))}


@endpoint(status=204)
def delete_rule(req: ApiRequest) -> None:
    """Delete a security group rule."""
    in_session(req, lambda s, svc: svc.delete_rule(s, req.context, req.path["rule_id"]))


def routes() -> list[BaseRoute]:
    return [
        Route("/v2.0/security-groups", list_groups, methods=["GET"]),
        Route("/v2.0/security-groups", create_group, methods=["POST"]),
        Route("/v2.0/security-groups/{sg_id}", show_group, methods=["GET"]),
        Route("/v2.0/security-groups/{sg_id}", update_group, methods=["PUT"]),
        Route("/v2.0/security-groups/{sg_id}", delete_group, methods=["DELETE"]),
        Route("/v2.0/security-group-rules", list_rules, methods=["GET"]),
        Route("/v2.0/security-group-rules", create_rule, methods=["POST"]),
        Route("/v2.0/security-group-rules/{rule_id}", show_rule, methods=["GET"]),
        Route("/v2.0/security-group-rules/{rule_id}", delete_rule, methods=["DELETE"]),
    ]
