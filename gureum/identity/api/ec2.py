"""keystone's OS-EC2 routes: a user's ec2 credentials, and tokens from signed S3/EC2 requests."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.identity import views


@endpoint(json_body=True, status=201, summary="Create an EC2 credential")
def create_ec2_credential(req: ApiRequest) -> tuple[int, dict[str, Any]]:
    tenant_id = req.body.get("tenant_id") if isinstance(req.body, dict) else None
    return 201, req.cloud.identity.ec2.create(req.context, req.path["user_id"], tenant_id, req.base_url)


@endpoint(summary="List EC2 credentials")
def list_ec2_credentials(req: ApiRequest) -> dict[str, Any]:
    items = req.cloud.identity.ec2.list(req.context, req.path["user_id"], req.base_url)
    return views.collection("credentials", items, str(req.request.url))


@endpoint(summary="Show an EC2 credential")
def get_ec2_credential(req: ApiRequest) -> dict[str, Any]:
    return req.cloud.identity.ec2.get(req.context, req.path["user_id"], req.path["access"], req.base_url)


@endpoint(summary="Delete an EC2 credential")
def delete_ec2_credential(req: ApiRequest) -> None:
    req.cloud.identity.ec2.delete(req.context, req.path["user_id"], req.path["access"])


@endpoint(auth=False, json_body=True, summary="A token for a signed S3 request")
def s3tokens(req: ApiRequest) -> Response:
    validated = req.cloud.identity.token_for_s3(req.body)
    return JSONResponse(views.token(validated, req.cloud.identity.catalog(validated.context)))


@endpoint(auth=False, json_body=True, summary="A token for a signed EC2 request")
def ec2tokens(req: ApiRequest) -> Response:
    token, validated = req.cloud.identity.token_for_ec2(req.body)
    body = views.token(validated, req.cloud.identity.catalog(validated.context))
    return JSONResponse(body, headers={"X-Subject-Token": token})


def routes() -> list[BaseRoute]:
    base = "/v3/users/{user_id}/credentials/OS-EC2"
    return [
        Route(base, list_ec2_credentials, methods=["GET"]),
        Route(base, create_ec2_credential, methods=["POST"]),
        Route(base + "/{access}", get_ec2_credential, methods=["GET"]),
        Route(base + "/{access}", delete_ec2_credential, methods=["DELETE"]),
        Route("/v3/s3tokens", s3tokens, methods=["POST"]),
        Route("/v3/ec2tokens", ec2tokens, methods=["POST"]),
    ]
