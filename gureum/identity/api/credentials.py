"""/v3/credentials: secrets a user keeps in identity (ec2 access keys, totp seeds, certificates).

An ec2 credential's id is the SHA-256 of its access key, as in keystone, so the
same access key cannot be stored twice. A token from an application credential
only reaches credentials of its own project (keystone's delegation boundary),
and a restricted one may not create ec2 credentials.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute, Route

from gureum.db.base import new_id
from gureum.http.context import RequestContext
from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import BadRequest, Conflict, Forbidden, NotFound
from gureum.identity import views
from gureum.identity.api.app_credentials import refuse_restricted
from gureum.identity.models import Credential, Project, User

PROPERTIES = {
    "blob": {"type": "string", "maxLength": 65535},
    "project_id": {"type": ["string", "null"], "maxLength": 64},
    "type": {"type": "string", "minLength": 1, "maxLength": 64},
    "user_id": {"type": "string", "minLength": 1, "maxLength": 64},
}
CREATE = {
    "type": "object",
    "properties": {
        "credential": {
            "type": "object",
            "properties": {"id": {"type": "string"}, **PROPERTIES},
            "required": ["blob", "type", "user_id"],
            "additionalProperties": True,
        }
    },
    "required": ["credential"],
}
UPDATE = {
    "type": "object",
    "properties": {
        "credential": {"type": "object", "properties": PROPERTIES, "minProperties": 1, "additionalProperties": True}
    },
    "required": ["credential"],
}
CORE = set(PROPERTIES) | {"id", "links"}
# Keys of an ec2 blob that bind it to a delegation; an update may not change them.
EC2_BOUND_KEYS = ("trust_id", "app_cred_id", "access_token_id", "access_id")

NOT_COMPLY = (
    " The server could not comply with the request since it is either malformed or otherwise incorrect."
    " The client is assumed to be in error."
)


def _missing(attribute: str) -> BadRequest:
    return BadRequest(f"Expecting to find {attribute} in credential." + NOT_COMPLY)


def _not_found(credential_id: str) -> NotFound:
    return NotFound(f"Could not find credential: {credential_id}.")


def credential_view(c: Credential, base: str) -> dict[str, Any]:
    return {
        "id": c.id,
        "user_id": c.user_id,
        "project_id": c.project_id,
        "type": c.type,
        "blob": c.blob,
        "links": {"self": f"{base}/v3/credentials/{c.id}"},
        **(c.extra or {}),
    }


def _target(user_id: str | None) -> dict[str, Any]:
    return {"target.credential.user_id": user_id}


def _ec2_blob(blob_text: str | None) -> dict[str, Any]:
    try:
        blob = json.loads(blob_text or "")
    except ValueError as exc:
        raise BadRequest("Invalid blob in credential") from exc
    if not blob or not isinstance(blob, dict):
        raise _missing("blob")
    if blob.get("access") is None:
        raise _missing("access")
    return blob


def _check_delegation_scope(ctx: RequestContext, project_id: str | None) -> None:
    """A token from an application credential reaches only its project's credentials."""
    if ctx.application_credential_id and project_id != ctx.project_id:
        raise Forbidden(
            "You are not authorized to perform the requested action: "
            "Credential project does not match the project scope of the delegated token."
        )


def _visible(req: ApiRequest, c: Credential) -> bool:
    if not req.cloud.policy.authorize(req.context, "identity:get_credential", _target(c.user_id)):
        return False
    return not (req.context.application_credential_id and c.project_id != req.context.project_id)


@endpoint(summary="List credentials")
def list_credentials(req: ApiRequest) -> dict[str, Any]:
    ctx = req.context
    req.cloud.policy.enforce(ctx, "identity:list_credentials", _target(ctx.user_id))
    query = select(Credential).order_by(Credential.id)
    for key in ("user_id", "type"):
        if key in req.query:
            query = query.where(getattr(Credential, key) == req.query[key])
    with req.cloud.db.read() as session:
        # Each credential is checked on its own: users see only their own.
        items = [credential_view(c, req.base_url) for c in session.execute(query).scalars() if _visible(req, c)]
    return views.collection("credentials", items, str(req.request.url))


def _check_references(session: Session, user_id: str | None, project_id: str | None) -> None:
    if user_id is not None and session.get(User, user_id) is None:
        raise NotFound(f"Could not find user: {user_id}.")
    if project_id and session.get(Project, project_id) is None:
        raise NotFound(f"Could not find project: {project_id}.")


@endpoint(schema=CREATE, status=201, summary="Create a credential")
def create_credential(req: ApiRequest) -> tuple[int, dict[str, Any]]:
    ctx = req.context
    ref = dict(req.body["credential"])
    req.cloud.policy.enforce(ctx, "identity:create_credential", _target(ref["user_id"]))
    is_ec2 = ref["type"].lower() == "ec2"
    if is_ec2 and not ref.get("project_id"):
        raise _missing("project_id")
    _check_delegation_scope(ctx, ref.get("project_id"))
    if is_ec2:
        blob = _ec2_blob(ref["blob"])
        credential_id = hashlib.sha256(str(blob["access"]).encode()).hexdigest()
        if ctx.application_credential_id:
            # Tokens made from this ec2 credential stay within the application credential.
            blob["app_cred_id"] = ctx.application_credential_id
            ref["blob"] = json.dumps(blob)
    else:
        credential_id = new_id()
    try:
        with req.cloud.identity.write() as session:
            if is_ec2:
                refuse_restricted(session, ctx, "credentials")
            _check_references(session, ref["user_id"], ref.get("project_id"))
            if session.get(Credential, credential_id) is not None:
                raise _duplicate(credential_id)
            credential = Credential(
                id=credential_id,
                user_id=ref["user_id"],
                project_id=ref.get("project_id"),
                type=ref["type"],
                blob=ref["blob"],
                extra={k: v for k, v in ref.items() if k not in CORE},
            )
            session.add(credential)
            session.flush()
            return 201, {"credential": credential_view(credential, req.base_url)}
    except IntegrityError as exc:
        raise _duplicate(credential_id) from exc


def _duplicate(credential_id: str) -> Conflict:
    return Conflict(f"Conflict occurred attempting to store credential - Duplicate entry found with ID {credential_id}.")


def _load(req: ApiRequest, session: Session, action: str) -> Credential:
    credential_id = req.path["credential_id"]
    credential = session.get(Credential, credential_id)
    req.cloud.policy.enforce(req.context, action, _target(credential.user_id) if credential else {})
    if credential is None:
        raise _not_found(credential_id)
    _check_delegation_scope(req.context, credential.project_id)
    return credential


@endpoint(summary="Show a credential")
def get_credential(req: ApiRequest) -> dict[str, Any]:
    with req.cloud.db.read() as session:
        credential = _load(req, session, "identity:get_credential")
        return {"credential": credential_view(credential, req.base_url)}


@endpoint(schema=UPDATE, summary="Update a credential")
def update_credential(req: ApiRequest) -> dict[str, Any]:
    ref = req.body["credential"]
    credential_id = req.path["credential_id"]
    if ref.get("id") is not None and ref["id"] != credential_id:
        raise BadRequest("Cannot change ID")
    with req.cloud.identity.write() as session:
        credential = _load(req, session, "identity:update_credential")
        new_type = ref.get("type", credential.type)
        new_project = ref["project_id"] if "project_id" in ref else credential.project_id
        if new_type.lower() == "ec2":
            if not new_project:
                raise _missing("project_id")
            if credential.type.lower() == "ec2" and "blob" in ref:
                old_blob = _ec2_blob(credential.blob)
                new_blob = _ec2_blob(ref["blob"])
                for key in EC2_BOUND_KEYS:
                    if old_blob.get(key) != new_blob.get(key):
                        raise BadRequest(f"{key} can not be updated for credential")
        # The caller must also be allowed the credential as it will be (no moving it to another user).
        req.cloud.policy.enforce(
            req.context, "identity:update_credential", _target(ref.get("user_id", credential.user_id))
        )
        _check_delegation_scope(req.context, new_project)
        _check_references(session, ref.get("user_id"), ref.get("project_id"))
        for key in ("user_id", "type", "blob"):
            if key in ref:
                setattr(credential, key, ref[key])
        if "project_id" in ref:
            credential.project_id = ref["project_id"]
        credential.extra = {**(credential.extra or {}), **{k: v for k, v in ref.items() if k not in CORE}}
        session.flush()
        return {"credential": credential_view(credential, req.base_url)}


@endpoint(summary="Delete a credential")
def delete_credential(req: ApiRequest) -> None:
    with req.cloud.identity.write() as session:
        credential = _load(req, session, "identity:delete_credential")
        session.delete(credential)


def routes() -> list[BaseRoute]:
    return [
        Route("/v3/credentials", list_credentials, methods=["GET"]),
        Route("/v3/credentials", create_credential, methods=["POST"]),
        Route("/v3/credentials/{credential_id}", get_credential, methods=["GET"]),
        Route("/v3/credentials/{credential_id}", update_credential, methods=["PATCH"]),
        Route("/v3/credentials/{credential_id}", delete_credential, methods=["DELETE"]),
    ]
