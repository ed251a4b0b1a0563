"""The network app: Neutron's v2.0 routes, errors as NeutronError bodies."""

from __future__ import annotations

import importlib

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from gureum.http.errors import render_neutron
from gureum.http.service_app import service_app

# Each module exposes `routes() -> list[BaseRoute]`.
ROUTE_MODULES: tuple[str, ...] = (
    "gureum.network.api.discovery",
    "gureum.network.api.networks",
    "gureum.network.api.subnets",
    "gureum.network.api.ports",
    "gureum.network.api.security_groups",
    "gureum.network.api.quotas",
    "gureum.network.api.routers",
    "gureum.network.api.floating_ips",
    "gureum.network.api.agents",
)


def network_routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = []
    for name in ROUTE_MODULES:
        routes += importlib.import_module(name).routes()
    return routes


def network_app() -> Starlette:
    return service_app(network_routes(), render_neutron)
