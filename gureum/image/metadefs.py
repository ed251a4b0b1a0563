"""Metadata definitions (glance "metadefs"): namespaces of properties, objects and tags
that tell clients (Horizon, the CLI) which image/flavor/volume properties mean something.

Glance's shapes and messages. Anyone may read public namespaces and their own; only
admins change them (glance's defaults). A namespace out of sight is a 404.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from gureum.db.base import utcnow
from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest, Conflict, Forbidden, NotFound
from gureum.image.models import (
    MetadefNamespace,
    MetadefNamespaceResourceType,
    MetadefObject,
    MetadefProperty,
    MetadefResourceType,
    MetadefTag,
)
from gureum.image.views import isotime

if TYPE_CHECKING:
    from gureum.cloud import Cloud

# The resource types glance's own metadefs apply to; seeded at start, never deleted.
SEEDED_RESOURCE_TYPES = (
    "OS::Glance::Image",
    "OS::Cinder::Volume",
    "OS::Nova::Flavor",
    "OS::Nova::Aggregate",
    "OS::Nova::Server",
)
READ_ONLY = ("self", "schema", "created_at", "updated_at")
NAMESPACE_VISIBILITIES = ("public", "private")
READER = "rule:context_is_admin or role:reader or role:member"
ADMIN = "rule:context_is_admin"
POLICY_DEFAULTS = {
    "get_metadef_namespace": READER,
    "get_metadef_namespaces": READER,
    "add_metadef_namespace": ADMIN,
    "modify_metadef_namespace": ADMIN,
    "delete_metadef_namespace": ADMIN,
    "get_metadef_object": READER,
    "get_metadef_objects": READER,
    "add_metadef_object": ADMIN,
    "modify_metadef_object": ADMIN,
    "delete_metadef_object": ADMIN,
    "get_metadef_property": READER,
    "get_metadef_properties": READER,
    "add_metadef_property": ADMIN,
    "modify_metadef_property": ADMIN,
    "remove_metadef_property": ADMIN,
    "get_metadef_tag": READER,
    "get_metadef_tags": READER,
    "add_metadef_tag": ADMIN,
    "add_metadef_tags": ADMIN,
    "modify_metadef_tag": ADMIN,
    "delete_metadef_tag": ADMIN,
    "delete_metadef_tags": ADMIN,
    "list_metadef_resource_types": READER,
    "get_metadef_resource_type": READER,
    "add_metadef_resource_type_association": ADMIN,
    "remove_metadef_resource_type_association": ADMIN,
}


# -- views -----------------------------------------------------------------------------


def _stamped(view: dict[str, Any], row: Any) -> dict[str, Any]:
    view["created_at"] = isotime(row.created_at)
    view["updated_at"] = isotime(row.updated_at)
    return view


def association_view(link: MetadefNamespaceResourceType) -> dict[str, Any]:
    view: dict[str, Any] = {"name": link.resource_type.name}
    if link.prefix is not None:
        view["prefix"] = link.prefix
    if link.properties_target is not None:
        view["properties_target"] = link.properties_target
    return _stamped(view, link)


def property_view(prop: MetadefProperty) -> dict[str, Any]:
    return {"name": prop.name, **prop.schema}


def object_view(namespace: str, obj: MetadefObject) -> dict[str, Any]:
    view: dict[str, Any] = {"name": obj.name}
    if obj.description is not None:
        view["description"] = obj.description
    if obj.required:
        view["required"] = obj.required
    view["properties"] = obj.schema or {}
    view["schema"] = "/v2/schemas/metadefs/object"
    view["self"] = f"/v2/metadefs/namespaces/{namespace}/objects/{obj.name}"
    return _stamped(view, obj)


def tag_view(tag: MetadefTag) -> dict[str, Any]:
    return _stamped({"name": tag.name}, tag)


def namespace_view(ns: MetadefNamespace, *, detail: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {"namespace": ns.namespace}
    if ns.display_name is not None:
        view["display_name"] = ns.display_name
    if ns.description is not None:
        view["description"] = ns.description
    view.update({"visibility": ns.visibility, "protected": ns.protected, "owner": ns.owner})
    if ns.resource_types:
        view["resource_type_associations"] = [association_view(link) for link in ns.resource_types]
    if detail:
        if ns.properties:
            view["properties"] = {p.name: {k: v for k, v in property_view(p).items() if k != "name"} for p in ns.properties}
        if ns.objects:
            view["objects"] = [object_view(ns.namespace, o) for o in ns.objects]
        if ns.tags:
            view["tags"] = [{"name": t.name} for t in ns.tags]
    view["schema"] = "/v2/schemas/metadefs/namespace"
    view["self"] = f"/v2/metadefs/namespaces/{ns.namespace}"
    return _stamped(view, ns)


# -- input checks ------------------------------------------------------------------------


def _body(body: Any) -> dict[str, Any]:
    if body is None:
        raise BadRequest("Body expected in request.")
    if not isinstance(body, dict):
        raise BadRequest("Provided object does not match schema: the body must be a JSON object")
    for key in READ_ONLY:
        if key in body:
            raise Forbidden(f"Attribute '{key}' is read-only.")
    return body


def _string(body: dict[str, Any], key: str, *, required: bool = False, max_length: int = 255) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise BadRequest(f"Provided object does not match schema: '{key}' is a required property")
        return None
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > max_length:
        raise BadRequest(f"Provided object does not match schema: '{key}' must be a string of at most {max_length} characters")
    return value


def _namespace_fields(body: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "namespace": _string(body, "namespace", required=True, max_length=80),
        "display_name": _string(body, "display_name", max_length=80),
        "description": _string(body, "description", max_length=500),
    }
    visibility = body.get("visibility", "private")
    if visibility not in NAMESPACE_VISIBILITIES:
        raise BadRequest(f"Provided object does not match schema 'namespace': {visibility!r} is not one of ['public', 'private']")
    protected = body.get("protected", False)
    if not isinstance(protected, bool):
        raise BadRequest("Provided object does not match schema 'namespace': 'protected' must be a boolean")
    fields.update(visibility=visibility, protected=protected)
    return fields


def _property_schema(body: dict[str, Any]) -> dict[str, Any]:
    if "type" in body and body["type"] not in ("array", "boolean", "integer", "number", "object", "string", None):
        raise BadRequest(f"Provided object does not match schema 'property': {body['type']!r} is not a valid type")
    if not isinstance(body.get("title", ""), str):
        raise BadRequest("Provided object does not match schema 'property': 'title' must be a string")
    return {k: v for k, v in body.items() if k != "name"}


class MetadefService:
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud
        self._seeded = False

    def start(self) -> None:
        self.cloud.policy.register_defaults(POLICY_DEFAULTS)

    def _ensure_seeded(self, s: Session) -> None:
        """Glance's resource types, added on first use (no start-up work for a rarely used API)."""
        if self._seeded:
            return
        have = set(s.scalars(select(MetadefResourceType.name)).all())
        for name in SEEDED_RESOURCE_TYPES:
            if name not in have:
                s.add(MetadefResourceType(id=str(uuid.uuid4()), name=name, protected=True))
        s.flush()
        self._seeded = True

    # -- lookups ---------------------------------------------------------------------

    def _enforce(self, ctx: RequestContext, action: str, ns: MetadefNamespace | None = None) -> None:
        target = {"project_id": ns.owner if ns else ctx.project_id, "visibility": ns.visibility if ns else None}
        self.cloud.policy.enforce(ctx, action, target)

    @staticmethod
    def _visible(ctx: RequestContext, ns: MetadefNamespace) -> bool:
        return ctx.is_admin or ns.visibility == "public" or (ctx.project_id is not None and ns.owner == ctx.project_id)

    def _namespace(self, s: Session, ctx: RequestContext, name: str) -> MetadefNamespace:
        ns = s.scalar(select(MetadefNamespace).where(MetadefNamespace.namespace == name))
        if ns is None or not self._visible(ctx, ns):
            raise NotFound(f"Metadata definition namespace={name} was not found.")
        return ns

    # -- namespaces -----------------------------------------------------------------------

    def list_namespaces(self, ctx: RequestContext, params: list[tuple[str, str]]) -> dict[str, Any]:
        self._enforce(ctx, "get_metadef_namespaces")
        query = dict(params)
        visibility = query.get("visibility")
        if visibility is not None and visibility not in NAMESPACE_VISIBILITIES:
            raise BadRequest(f"Invalid visibility value: {visibility}")
        if query.get("sort_dir", "desc") not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort direction: {query['sort_dir']}")
        resource_types = {t for t in query.get("resource_types", "").split(",") if t}
        with self.cloud.db.session() as s:
            rows = [ns for ns in s.scalars(select(MetadefNamespace).order_by(MetadefNamespace.created_at.desc())).all()
                    if self._visible(ctx, ns)]
            if visibility is not None:
                rows = [ns for ns in rows if ns.visibility == visibility]
            if resource_types:
                rows = [ns for ns in rows if resource_types & {link.resource_type.name for link in ns.resource_types}]
            kept = [(k, v) for k, v in params if k != "marker"]
            first = "/v2/metadefs/namespaces" + (f"?{urlencode(kept)}" if kept else "")
            return {
                "namespaces": [namespace_view(ns) for ns in rows],
                "first": first,
                "schema": "/v2/schemas/metadefs/namespaces",
            }

    def show_namespace(self, ctx: RequestContext, name: str) -> dict[str, Any]:
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, "get_metadef_namespace", ns)
            return namespace_view(ns, detail=True)

    def create_namespace(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        body = _body(body)
        self._enforce(ctx, "add_metadef_namespace")
        fields = _namespace_fields(body)
        with self.cloud.db.session() as s:
            if s.scalar(select(MetadefNamespace.id).where(MetadefNamespace.namespace == fields["namespace"])):
                raise Conflict(f"The metadata definition namespace={fields['namespace']} already exists.")
            now = utcnow()
            ns = MetadefNamespace(id=str(uuid.uuid4()), owner=body.get("owner") or ctx.project_id,
                                  created_at=now, updated_at=now, **fields)
            s.add(ns)
            for association in body.get("resource_type_associations") or []:
                self._associate(s, ns, _body(association))
            for name, schema in (body.get("properties") or {}).items():
                ns.properties.append(MetadefProperty(id=str(uuid.uuid4()), name=name, schema=_property_schema(schema)))
            for obj in body.get("objects") or []:
                ns.objects.append(self._new_object(_body(obj)))
            for tag in body.get("tags") or []:
                ns.tags.append(MetadefTag(id=str(uuid.uuid4()), name=_string(_body(tag), "name", required=True)))
            s.flush()
            return namespace_view(ns, detail=True)

    def update_namespace(self, ctx: RequestContext, name: str, body: Any) -> dict[str, Any]:
        body = _body(body)
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, "modify_metadef_namespace", ns)
            fields = _namespace_fields(body)
            if fields["namespace"] != ns.namespace and s.scalar(
                select(MetadefNamespace.id).where(MetadefNamespace.namespace == fields["namespace"])
            ):
                raise Conflict(f"The metadata definition namespace={fields['namespace']} already exists.")
            for key, value in fields.items():
                setattr(ns, key, value)
            if body.get("owner"):
                ns.owner = body["owner"]
            ns.updated_at = utcnow()
            s.flush()
            return namespace_view(ns)

    def delete_namespace(self, ctx: RequestContext, name: str) -> None:
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, "delete_metadef_namespace", ns)
            if ns.protected:
                raise Forbidden(f"Metadata definition namespace {name} is protected and cannot be deleted.")
            s.delete(ns)

    def delete_namespace_contents(self, ctx: RequestContext, name: str, what: str) -> None:
        """DELETE .../objects, .../properties or .../tags: empty that part of the namespace."""
        action = {"objects": "delete_metadef_object", "properties": "remove_metadef_property",
                  "tags": "delete_metadef_tags"}[what]
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, action, ns)
            if ns.protected:
                raise Forbidden(f"Metadata definition namespace {name} is protected and cannot be deleted.")
            getattr(ns, what).clear()
            ns.updated_at = utcnow()

    # -- resource types -------------------------------------------------------------------

    def list_resource_types(self, ctx: RequestContext) -> dict[str, Any]:
        self._enforce(ctx, "list_metadef_resource_types")
        with self.cloud.db.session() as s:
            self._ensure_seeded(s)
            rows = s.scalars(select(MetadefResourceType).order_by(MetadefResourceType.name)).all()
            return {"resource_types": [_stamped({"name": r.name}, r) for r in rows]}

    def list_associations(self, ctx: RequestContext, name: str) -> dict[str, Any]:
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, "get_metadef_resource_type", ns)
            return {"resource_type_associations": [association_view(link) for link in ns.resource_types]}

    def _associate(self, s: Session, ns: MetadefNamespace, body: dict[str, Any]) -> MetadefNamespaceResourceType:
        type_name = _string(body, "name", required=True, max_length=80)
        self._ensure_seeded(s)
        resource_type = s.scalar(select(MetadefResourceType).where(MetadefResourceType.name == type_name))
        if resource_type is None:
            # Glance creates unknown resource types on first association.
            resource_type = MetadefResourceType(id=str(uuid.uuid4()), name=type_name, protected=False)
            s.add(resource_type)
            s.flush()
        if any(link.resource_type_id == resource_type.id for link in ns.resource_types):
            raise Conflict(
                f"The metadata definition resource-type association of resource-type={type_name} to "
                f"namespace={ns.namespace} already exists."
            )
        now = utcnow()
        link = MetadefNamespaceResourceType(
            resource_type_id=resource_type.id, resource_type=resource_type,
            prefix=_string(body, "prefix", max_length=80),
            properties_target=_string(body, "properties_target", max_length=80),
            created_at=now, updated_at=now,
        )
        ns.resource_types.append(link)
        return link

    def add_association(self, ctx: RequestContext, name: str, body: Any) -> dict[str, Any]:
        body = _body(body)
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, "add_metadef_resource_type_association", ns)
            link = self._associate(s, ns, body)
            s.flush()
            return association_view(link)

    def remove_association(self, ctx: RequestContext, name: str, type_name: str) -> None:
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, "remove_metadef_resource_type_association", ns)
            for link in ns.resource_types:
                if link.resource_type.name == type_name:
                    ns.resource_types.remove(link)
                    return
            raise NotFound(
                f"The metadata definition resource-type association of resource-type={type_name} to "
                f"namespace={name}, was not found."
            )

    # -- properties ---------------------------------------------------------------------------

    @staticmethod
    def _find(items: list[Any], name: str, kind: str, namespace: str) -> Any:
        for item in items:
            if item.name == name:
                return item
        raise NotFound(f"The metadata definition {kind} with name={name} was not found in namespace={namespace}.")

    def list_properties(self, ctx: RequestContext, name: str) -> dict[str, Any]:
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, "get_metadef_properties", ns)
            return {"properties": {p.name: {k: v for k, v in property_view(p).items() if k != "name"} for p in ns.properties}}

    def show_property(self, ctx: RequestContext, name: str, prop_name: str) -> dict[str, Any]:
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, "get_metadef_property", ns)
            return property_view(self._find(ns.properties, prop_name, "property", name))

    def create_property(self, ctx: RequestContext, name: str, body: Any) -> dict[str, Any]:
        body = _body(body)
        prop_name = _string(body, "name", required=True)
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, "add_metadef_property", ns)
            if any(p.name == prop_name for p in ns.properties):
                raise Conflict(f"A metadata definition property with name={prop_name} already exists in namespace={name}.")
            prop = MetadefProperty(id=str(uuid.uuid4()), name=prop_name, schema=_property_schema(body))
            ns.properties.append(prop)
            s.flush()
            return property_view(prop)

    def update_property(self, ctx: RequestContext, name: str, prop_name: str, body: Any) -> dict[str, Any]:
        body = _body(body)
        new_name = _string(body, "name", required=True)
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, "modify_metadef_property", ns)
            prop = self._find(ns.properties, prop_name, "property", name)
            if new_name != prop_name and any(p.name == new_name for p in ns.properties):
                raise Conflict(f"A metadata definition property with name={new_name} already exists in namespace={name}.")
            prop.name, prop.schema, prop.updated_at = new_name, _property_schema(body), utcnow()
            s.flush()
            return property_view(prop)

    def delete_property(self, ctx: RequestContext, name: str, prop_name: str) -> None:
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, "remove_metadef_property", ns)
            ns.properties.remove(self._find(ns.properties, prop_name, "property", name))

    # -- objects -----------------------------------------------------------------------------

    @staticmethod
    def _new_object(body: dict[str, Any]) -> MetadefObject:
        required = body.get("required") or []
        properties = body.get("properties") or {}
        if not isinstance(required, list) or not isinstance(properties, dict):
            raise BadRequest("Provided object does not match schema 'object': 'required' is a list, 'properties' an object")
        now = utcnow()
        return MetadefObject(
            id=str(uuid.uuid4()), name=_string(body, "name", required=True, max_length=80),
            description=_string(body, "description", max_length=1000), required=required, schema=properties,
            created_at=now, updated_at=now,
        )

    def list_objects(self, ctx: RequestContext, name: str) -> dict[str, Any]:
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, "get_metadef_objects", ns)
            return {"objects": [object_view(name, o) for o in ns.objects], "schema": "v2/schemas/metadefs/objects"}

    def show_object(self, ctx: RequestContext, name: str, object_name: str) -> dict[str, Any]:
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, "get_metadef_object", ns)
            return object_view(name, self._find(ns.objects, object_name, "object", name))

    def create_object(self, ctx: RequestContext, name: str, body: Any) -> dict[str, Any]:
        obj = self._new_object(_body(body))
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, "add_metadef_object", ns)
            if any(o.name == obj.name for o in ns.objects):
                raise Conflict(f"A metadata definition object with name={obj.name} already exists in namespace={name}.")
            ns.objects.append(obj)
            s.flush()
            return object_view(name, obj)

    def update_object(self, ctx: RequestContext, name: str, object_name: str, body: Any) -> dict[str, Any]:
        new = self._new_object(_body(body))
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, "modify_metadef_object", ns)
            obj = self._find(ns.objects, object_name, "object", name)
            if new.name != object_name and any(o.name == new.name for o in ns.objects):
                raise Conflict(f"A metadata definition object with name={new.name} already exists in namespace={name}.")
            obj.name, obj.description, obj.required, obj.schema = new.name, new.description, new.required, new.schema
            obj.updated_at = utcnow()
            s.flush()
            return object_view(name, obj)

    def delete_object(self, ctx: RequestContext, name: str, object_name: str) -> None:
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, "delete_metadef_object", ns)
            ns.objects.remove(self._find(ns.objects, object_name, "object", name))

    # -- tags ----------------------------------------------------------------------------------

    def _tag_conflict(self, name: str, tag_name: str) -> Conflict:
        return Conflict(
            f"A metadata tag with name={tag_name} already exists in namespace={name}. "
            "(Please note that metadata tag names are case insensitive)."
        )

    def list_tags(self, ctx: RequestContext, name: str) -> dict[str, Any]:
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, "get_metadef_tags", ns)
            return {"tags": [tag_view(t) for t in ns.tags]}

    def show_tag(self, ctx: RequestContext, name: str, tag_name: str) -> dict[str, Any]:
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, "get_metadef_tag", ns)
            return tag_view(self._find(ns.tags, tag_name, "tag", name))

    def create_tag(self, ctx: RequestContext, name: str, tag_name: str) -> dict[str, Any]:
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, "add_metadef_tag", ns)
            if any(t.name.lower() == tag_name.lower() for t in ns.tags):
                raise self._tag_conflict(name, tag_name)
            now = utcnow()
            tag = MetadefTag(id=str(uuid.uuid4()), name=tag_name, created_at=now, updated_at=now)
            ns.tags.append(tag)
            s.flush()
            return tag_view(tag)

    def create_tags(self, ctx: RequestContext, name: str, body: Any, *, append: bool = False) -> dict[str, Any]:
        body = _body(body)
        raw = body.get("tags")
        if not isinstance(raw, list):
            raise BadRequest("Provided object does not match schema 'tags': 'tags' is a required array")
        names = [_string(_body(t), "name", required=True) or "" for t in raw]
        if len({n.lower() for n in names}) != len(names):
            raise Conflict(f"Duplicate tags in the request for namespace={name}.")
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, "add_metadef_tags", ns)
            if not append:
                ns.tags.clear()
                s.flush()
            existing = {t.name.lower() for t in ns.tags}
            now = utcnow()
            for tag_name in names:
                if tag_name.lower() in existing:
                    raise self._tag_conflict(name, tag_name)
                ns.tags.append(MetadefTag(id=str(uuid.uuid4()), name=tag_name, created_at=now, updated_at=now))
            s.flush()
            return {"tags": [{"name": n} for n in names]}

    def update_tag(self, ctx: RequestContext, name: str, tag_name: str, body: Any) -> dict[str, Any]:
        new_name = _string(_body(body), "name", required=True) or ""
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, "modify_metadef_tag", ns)
            tag = self._find(ns.tags, tag_name, "tag", name)
            if new_name.lower() != tag_name.lower() and any(t.name.lower() == new_name.lower() for t in ns.tags):
                raise self._tag_conflict(name, new_name)
            tag.name, tag.updated_at = new_name, utcnow()
            s.flush()
            return tag_view(tag)

    def delete_tag(self, ctx: RequestContext, name: str, tag_name: str) -> None:
        with self.cloud.db.session() as s:
            ns = self._namespace(s, ctx, name)
            self._enforce(ctx, "delete_metadef_tag", ns)
            ns.tags.remove(self._find(ns.tags, tag_name, "tag", name))
