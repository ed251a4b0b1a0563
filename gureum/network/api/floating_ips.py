"""/v2.0/floatingips"""

from __future__ import annotations

from starlette.routing import BaseRoute

from gureum.network.api.common import crud_routes
from gureum.network.floating_ips import FLOATINGIP


def routes() -> list[BaseRoute]:
    return crud_routes("/v2.0/floatingips", FLOATINGIP, "floatingips", "floatingip_id")
