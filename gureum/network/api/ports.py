"""/v2.0/ports"""

from __future__ import annotations

from starlette.routing import BaseRoute

from gureum.network.api.common import crud_routes
from gureum.network.ports import PORT


def routes() -> list[BaseRoute]:
    return crud_routes("/v2.0/ports", PORT, "ports", "port_id", bulk=True)
