"""GET limits: the absolute limits and what the project uses; no rate limits."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.http.endpoint import ApiRequest, endpoint


@endpoint(auth=True)
def show_limits(req: ApiRequest) -> Any:
    return {"limits": {"rate": [], "absolute": req.cloud.volume.absolute_limits(req.context)}}


def routes() -> list[BaseRoute]:
    return [Route("/v3/limits", show_limits, methods=["GET"])]
