"""/v2.0/networks"""

from __future__ import annotations

from starlette.routing import BaseRoute

from gureum.network.api.common import crud_routes
from gureum.network.networks import NETWORK


def routes() -> list[BaseRoute]:
    return crud_routes("/v2.0/networks", NETWORK, "networks", "network_id", bulk=True)
