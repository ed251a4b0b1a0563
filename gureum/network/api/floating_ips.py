"""/v2.0/floatingips"""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.network import floating_ips
from gureum.network.api.common import body_of, filtered, in_session, only_fields


@endpoint()
def list_floating_ips(req: ApiRequest) -> Any:
    """List floating IPs."""
    return filtered(req, in_session(req, lambda s, svc: floating_ips.list_floating_ips(s, req.context)),
                    "floatingips")


@endpoint(json_body=True, status=201)
def create_floating_ip(req: ApiRequest) -> Any:
    """Take an address on an external network, optionally associated with a port."""
    attrs = body_of(req, "floatingip")
    return {"floatingip": in_session(req, lambda s, svc: floating_ips.create_floating_ip(svc, s, req.context,
                                                                                          attrs))}


@endpoint()
def show_floating_ip(req: ApiRequest) -> Any:
    """Show a floating IP."""
    def work(s: Any, svc: Any) -> Any:
        fip = floating_ips.get_fip_row(s, req.context, req.path["floatingip_id"])
        svc.enforce(req.context, "get_floatingip", {"project_id": fip.project_id})
        return floating_ips.fip_view(s, fip)
    return {"floatingip": only_fields(req, in_session(req, work))}


@endpoint(json_body=True)
def update_floating_ip(req: ApiRequest) -> Any:
    """Associate (port_id), disassociate (port_id null) or describe a floating IP."""
    attrs = body_of(req, "floatingip")
    return {"floatingip": in_session(req, lambda s, svc: floating_ips.update_floating_ip(
        svc, s, req.context, req.path["floatingip_id"], attrs))}


@endpoint(status=204)
def delete_floating_ip(req: ApiRequest) -> None:
    """Release a floating IP and its address."""
    in_session(req, lambda s, svc: floating_ips.delete_floating_ip(svc, s, req.context,
                                                                   req.path["floatingip_id"]))


def routes() -> list[BaseRoute]:
    return [
        Route("/v2.0/floatingips", list_floating_ips, methods=["GET"]),
        Route("/v2.0/floatingips", create_floating_ip, methods=["POST"]),
        Route("/v2.0/floatingips/{floatingip_id}", show_floating_ip, methods=["GET"]),
        Route("/v2.0/floatingips/{floatingip_id}", update_floating_ip, methods=["PUT"]),
        Route("/v2.0/floatingips/{floatingip_id}", delete_floating_ip, methods=["DELETE"]),
    ]
