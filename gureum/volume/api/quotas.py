"""os-quota-sets: show (with usage), defaults, update, delete."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.volume.api.common import flag


@endpoint(auth=True)
def show_quotas(req: ApiRequest) -> Any:
    quota_set = req.cloud.volume.get_quotas(req.context, req.path["target"], usage=flag(req, "usage"))
    return {"quota_set": quota_set}


@endpoint(auth=True)
def show_defaults(req: ApiRequest) -> Any:
    return {"quota_set": req.cloud.volume.default_quotas(req.context, req.path["target"])}


@endpoint(auth=True, json_body=True)
def update_quotas(req: ApiRequest) -> Any:
    return {"quota_set": req.cloud.volume.update_quotas(req.context, req.path["target"], req.body)}


@endpoint(auth=True)
def delete_quotas(req: ApiRequest) -> Any:
    req.cloud.volume.delete_quotas(req.context, req.path["target"])
    return 200, None


@endpoint(auth=True)
def show_quota_class(req: ApiRequest) -> Any:
    return {"quota_class_set": req.cloud.volume.get_quota_class(req.context, req.path["class_name"])}


@endpoint(auth=True, json_body=True)
def update_quota_class(req: ApiRequest) -> Any:
    return {"quota_class_set": req.cloud.volume.update_quota_class(req.context, req.path["class_name"], req.body)}


def routes() -> list[BaseRoute]:
    base = "/v3/os-quota-sets"
    return [
        Route(base + "/{target}", show_quotas, methods=["GET"]),
        Route(base + "/{target}", update_quotas, methods=["PUT"]),
        Route(base + "/{target}", delete_quotas, methods=["DELETE"]),
        Route(base + "/{target}/defaults", show_defaults, methods=["GET"]),
        Route("/v3/os-quota-class-sets/{class_name}", show_quota_class, methods=["GET"]),
        Route("/v3/os-quota-class-sets/{class_name}", update_quota_class, methods=["PUT"]),
    ]
