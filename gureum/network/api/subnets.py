"""/v2.0/subnets"""

from __future__ import annotations

from starlette.routing import BaseRoute

from gureum.network.api.common import crud_routes
from gureum.network.subnets import SUBNET


def routes() -> list[BaseRoute]:
    return crud_routes("/v2.0/subnets", SUBNET, "subnets", "subnet_id", bulk=True)
