"""Volume types: the seeded __DEFAULT__, extra specs, project access, the default type."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest, Conflict, NotFound
from gureum.volume.common import as_bool, is_uuid, optional_str, require_object
from gureum.volume.models import Volume, VolumeType, VolumeTypeAccess

if TYPE_CHECKING:
    from gureum.cloud import Cloud

DEFAULT_TYPE_NAME = "__DEFAULT__"


def seed_default_type(session: Session) -> None:
    if session.execute(select(VolumeType).where(VolumeType.name == DEFAULT_TYPE_NAME)).scalar_one_or_none() is None:
        session.add(VolumeType(name=DEFAULT_TYPE_NAME, description="Default Volume Type", is_public=True))


class TypesMixin:
    cloud: "Cloud"

    def _type_visible(self, session: Session, ctx: RequestContext, vtype: VolumeType | None) -> bool:
        if vtype is None:
            return False
        if vtype.is_public or ctx.is_admin:
            return True
        return session.get(VolumeTypeAccess, (vtype.id, ctx.project_id or "")) is not None

    def _find_type(self, session: Session, ctx: RequestContext, ref: str) -> VolumeType:
        vtype = session.get(VolumeType, ref) if is_uuid(ref) else None
        if vtype is None:
            vtype = session.execute(select(VolumeType).where(VolumeType.name == ref)).scalar_one_or_none()
        if not self._type_visible(session, ctx, vtype):
            raise NotFound(f"Volume type {ref} could not be found.")
        assert vtype is not None
        return vtype

    def _default_type(self, session: Session) -> VolumeType:
        vtype = session.execute(select(VolumeType).where(VolumeType.name == DEFAULT_TYPE_NAME)).scalar_one_or_none()
        if vtype is None:
            seed_default_type(session)
            session.flush()
            return self._default_type(session)
        return vtype

    def _resolve_type(self, session: Session, ctx: RequestContext, ref: Any) -> VolumeType:
        if ref is None or ref == "":
            return self._default_type(session)
        if not isinstance(ref, str):
            raise BadRequest("Invalid input for field/attribute volume_type. It must be a string.")
        try:
            return self._find_type(session, ctx, ref)
        except NotFound:
            raise NotFound(f"Volume type with name {ref} could not be found.") from None

    def _type_name(self, session: Session, volume: Volume) -> dict[str, Any] | None:
        vtype = session.get(VolumeType, volume.volume_type_id) if volume.volume_type_id else None
        if vtype is None:
            return None
        return {"id": vtype.id, "name": vtype.name, "description": vtype.description,
                "is_public": vtype.is_public, "extra_specs": dict(vtype.extra_specs or {}), "deleted": False,
                "created_at": vtype.created_at.strftime("%Y-%m-%dT%H:%M:%S.%f"), "updated_at": None,
                "deleted_at": None, "qos_specs_id": None}

    def _type_id_for_filter(self, session: Session, ref: str) -> str:
        row = session.execute(select(VolumeType.id).where(or_(VolumeType.id == ref, VolumeType.name == ref))).first()
        return row[0] if row else ref

    # -- API --------------------------------------------------------------------------

    def list_types(self, ctx: RequestContext, params: dict[str, str]) -> list[VolumeType]:
        self.cloud.policy.enforce(ctx, "volume_extension:type_get_all", {"project_id": ctx.project_id})
        with self.cloud.db.read() as session:
            stmt = select(VolumeType).order_by(VolumeType.name)
            raw = params.get("is_public")
            if ctx.is_admin:
                if raw not in (None, "", "None", "none"):
                    stmt = stmt.where(VolumeType.is_public.is_(as_bool(raw, "is_public")))
                elif raw is None:
                    stmt = stmt.where(VolumeType.is_public.is_(True))
            else:
                stmt = stmt.where(or_(VolumeType.is_public.is_(True), exists().where(
                    VolumeTypeAccess.volume_type_id == VolumeType.id,
                    VolumeTypeAccess.project_id == (ctx.project_id or ""))))
            return list(session.execute(stmt).scalars())

    def get_type(self, ctx: RequestContext, type_id: str) -> VolumeType:
        self.cloud.policy.enforce(ctx, "volume_extension:type_get", {"project_id": ctx.project_id})
        with self.cloud.db.read() as session:
            if type_id == "default":
                return self._default_type_read(session)
            return self._find_type(session, ctx, type_id)

    def _default_type_read(self, session: Session) -> VolumeType:
        vtype = session.execute(select(VolumeType).where(VolumeType.name == DEFAULT_TYPE_NAME)).scalar_one_or_none()
        if vtype is None:
            raise NotFound("Default volume type can not be found.")
        return vtype

    def create_type(self, ctx: RequestContext, body: Any) -> VolumeType:
        data = require_object(body, "volume_type")
        self.cloud.policy.enforce(ctx, "volume_extension:types_manage", {"project_id": ctx.project_id})
        name = optional_str(data, "name")
        if not name:
            raise BadRequest("Invalid input for field/attribute name: a volume type needs a name.")
        description = optional_str(data, "description", max_length=255)
        is_public = as_bool(data.get("os-volume-type-access:is_public", data.get("is_public", True)),
                            "os-volume-type-access:is_public")
        specs = _extra_specs(data.get("extra_specs", {}))
        with self.cloud.db.session() as session:
            if session.execute(select(VolumeType.id).where(VolumeType.name == name)).first():
                raise Conflict(f"Volume Type {name} already exists.")
            vtype = VolumeType(name=name, description=description, is_public=is_public, extra_specs=specs)
            session.add(vtype)
            try:
                session.flush()
            except IntegrityError:
                raise Conflict(f"Volume Type {name} already exists.") from None
            return vtype

    def update_type(self, ctx: RequestContext, type_id: str, body: Any) -> VolumeType:
        data = require_object(body, "volume_type")
        self.cloud.policy.enforce(ctx, "volume_extension:types_manage", {"project_id": ctx.project_id})
        if not any(k in data for k in ("name", "description", "is_public")):
            raise BadRequest("Specify volume type name, description, is_public or a combination thereof.")
        with self.cloud.db.session() as session:
            vtype = self._find_type(session, ctx, type_id)
            if "name" in data:
                name = optional_str(data, "name")
                if not name:
                    raise BadRequest("Invalid input for field/attribute name: it cannot be empty.")
                if name != vtype.name and session.execute(select(VolumeType.id).where(VolumeType.name == name)).first():
                    raise Conflict(f"Volume Type {name} already exists.")
                if vtype.name == DEFAULT_TYPE_NAME and name != vtype.name:
                    raise BadRequest("The default volume type __DEFAULT__ cannot be renamed.")
                vtype.name = name
            if "description" in data:
                vtype.description = optional_str(data, "description", max_length=255)
            if "is_public" in data:
                vtype.is_public = as_bool(data["is_public"], "is_public")
            session.flush()
            return vtype

    def delete_type(self, ctx: RequestContext, type_id: str) -> None:
        self.cloud.policy.enforce(ctx, "volume_extension:types_manage", {"project_id": ctx.project_id})
        with self.cloud.db.session() as session:
            vtype = self._find_type(session, ctx, type_id)
            if vtype.name == DEFAULT_TYPE_NAME:
                raise BadRequest("Invalid volume type: the default volume type __DEFAULT__ cannot be deleted.")
            if session.execute(select(Volume.id).where(Volume.volume_type_id == vtype.id).limit(1)).first():
                raise BadRequest(f"Target volume type {vtype.id} is still in use.")
            session.delete(vtype)

    # -- extra specs ------------------------------------------------------------------

    def get_extra_specs(self, ctx: RequestContext, type_id: str) -> dict[str, str]:
        self.cloud.policy.enforce(ctx, "volume_extension:types_extra_specs:index", {"project_id": ctx.project_id})
        with self.cloud.db.read() as session:
            return dict(self._find_type(session, ctx, type_id).extra_specs or {})

    def set_extra_specs(self, ctx: RequestContext, type_id: str, body: Any) -> dict[str, str]:
        self.cloud.policy.enforce(ctx, "volume_extension:types_extra_specs:create", {"project_id": ctx.project_id})
        if not isinstance(body, dict) or "extra_specs" not in body:
            raise BadRequest("Missing required element 'extra_specs' in request body.")
        specs = _extra_specs(body["extra_specs"])
        with self.cloud.db.session() as session:
            vtype = self._find_type(session, ctx, type_id)
            vtype.extra_specs = {**(vtype.extra_specs or {}), **specs}
            return specs

    def get_extra_spec(self, ctx: RequestContext, type_id: str, key: str) -> dict[str, str]:
        specs = self.get_extra_specs(ctx, type_id)
        if key not in specs:
            raise NotFound(f"Volume Type {type_id} has no extra specs with key {key}.")
        return {key: specs[key]}

    def set_extra_spec(self, ctx: RequestContext, type_id: str, key: str, body: Any) -> dict[str, str]:
        self.cloud.policy.enforce(ctx, "volume_extension:types_extra_specs:update", {"project_id": ctx.project_id})
        if not isinstance(body, dict) or len(body) != 1:
            raise BadRequest("Request body contains too many items.")
        if key not in body:
            raise BadRequest("Request body and URI mismatch.")
        spec = _extra_specs(body)
        with self.cloud.db.session() as session:
            vtype = self._find_type(session, ctx, type_id)
            vtype.extra_specs = {**(vtype.extra_specs or {}), **spec}
            return spec

    def delete_extra_spec(self, ctx: RequestContext, type_id: str, key: str) -> None:
        self.cloud.policy.enforce(ctx, "volume_extension:types_extra_specs:delete", {"project_id": ctx.project_id})
        with self.cloud.db.session() as session:
            vtype = self._find_type(session, ctx, type_id)
            specs = dict(vtype.extra_specs or {})
            if key not in specs:
                raise NotFound(f"Volume Type {type_id} has no extra specs with key {key}.")
            del specs[key]
            vtype.extra_specs = specs

    # -- access -----------------------------------------------------------------------

    def list_type_access(self, ctx: RequestContext, type_id: str) -> list[dict[str, str]]:
        self.cloud.policy.enforce(ctx, "volume_extension:volume_type_access:list", {"project_id": ctx.project_id})
        with self.cloud.db.read() as session:
            vtype = self._find_type(session, ctx, type_id)
            if vtype.is_public:
                raise NotFound(f"Volume type access not found for {type_id}: the type is public.")
            rows = session.execute(select(VolumeTypeAccess).where(VolumeTypeAccess.volume_type_id == vtype.id)).scalars()
            return [{"volume_type_id": r.volume_type_id, "project_id": r.project_id} for r in rows]

    def change_type_access(self, ctx: RequestContext, type_id: str, body: Any) -> None:
        if not isinstance(body, dict) or len(body) != 1:
            raise BadRequest("Invalid request body: expected addProjectAccess or removeProjectAccess.")
        action, data = next(iter(body.items()))
        if action not in ("addProjectAccess", "removeProjectAccess") or not isinstance(data, dict):
            raise BadRequest(f"There is no such action: {action}")
        self.cloud.policy.enforce(ctx, f"volume_extension:volume_type_access:{action}", {"project_id": ctx.project_id})
        project = data.get("project")
        if not isinstance(project, str) or not project:
            raise BadRequest("Missing required element 'project' in request body.")
        with self.cloud.db.session() as session:
            vtype = self._find_type(session, ctx, type_id)
            if vtype.is_public:
                raise BadRequest("Invalid volume type: access to a public volume type cannot be changed.")
            row = session.get(VolumeTypeAccess, (vtype.id, project))
            if action == "addProjectAccess":
                if row is not None:
                    raise Conflict(f"Volume type access for {vtype.id} / {project} combination already exists.")
                session.add(VolumeTypeAccess(volume_type_id=vtype.id, project_id=project))
            else:
                if row is None:
                    raise NotFound(f"Volume type access not found for {vtype.id} / {project} combination.")
                session.delete(row)


def _extra_specs(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise BadRequest("Invalid input for field/attribute extra_specs. It must be an object.")
    result: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > 255:
            raise BadRequest("Invalid input for field/attribute extra_specs: keys must be 1 to 255 characters.")
        if isinstance(item, bool):
            item = str(item)
        if not isinstance(item, (str, int, float)) or len(str(item)) > 255:
            raise BadRequest(f"Invalid input for field/attribute extra_specs: value of {key!r} must be a string "
                             "of at most 255 characters.")
        result[key] = str(item)
    return result
