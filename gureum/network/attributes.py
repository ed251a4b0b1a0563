"""Declared attributes: one table per resource, in the spirit of neutron-lib's RESOURCE_ATTRIBUTE_MAP.

Each `Attr` says whether a body may carry it on create (`post`) and update (`put`),
how its value is converted and checked, its default, whether giving it needs its
own policy rule (`create_port:binding:host_id`), and who may see it. The same table
drives the body checks (read-only and unknown keys, in neutron's words), the
per-attribute policy, the plain update loop, the list filters and sort keys (in SQL,
see `listing.py`) and the JSON Schema the OpenAPI document shows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.sql.elements import ColumnElement

from gureum.http.context import RequestContext
from gureum.http.errors import BadRequest
from gureum.network.common import as_bool, as_dict, as_list, as_str

if TYPE_CHECKING:
    from gureum.network.service import NetworkService


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
Converter = Callable[[Any, str], Any]
# Builds the SQL condition for `?name=v1&name=v2` (any of the values).
SqlFilter = Callable[[list[str]], ColumnElement[bool]]


def string(value: Any, name: str) -> str:
    return as_str(value, name) or ""


def string_or_empty(value: Any, name: str) -> str:
    """A string where null means empty (neutron's device_id, device_owner)."""
    return as_str(value if value is not None else "", name) or ""


def boolean(value: Any, name: str) -> bool:
    return as_bool(value, name)


def dictionary(value: Any, name: str) -> dict[str, Any]:
    return as_dict(value if value is not None else {}, name)


STRING = {"type": "string", "maxLength": 255}
BOOLEAN = {"type": ["boolean", "string"]}
LIST = {"type": "array"}
OBJECT = {"type": "object"}
INTEGER = {"type": ["integer", "string"]}
NULLABLE_STRING = {"type": ["string", "null"]}


@dataclass(frozen=True)
class Attr:
    """One attribute of a resource.

    post/put: True accepted, False read-only ("Attribute 'x' not allowed in POST"),
    None not a body key at all ("Unrecognized attribute(s)").
    column: the model attribute that stores it as shown, when there is one (plain
    updates, filters and sorting use it); None when the view computes it.
    read_policy: the rule a caller needs to see it (hidden, and not filterable, otherwise).
    const: the value every row shows (a filter on it is decided without SQL).
    """

    name: str
    column: str | None = None
    post: bool | None = True
    put: bool | None = True
    convert: Converter | None = None
    default: Any = MISSING
    policy: bool = False
    read_policy: str | None = None
    schema: dict[str, Any] = field(default_factory=dict)
    sql: SqlFilter | None = None
    const: Any = MISSING


STANDARD = (
    Attr("id", "id", post=False, put=False, schema={"type": "string"}),
    Attr("created_at", "created_at", post=False, put=False),
    Attr("updated_at", "updated_at", post=False, put=False),
    Attr("revision_number", "revision_number", post=False, put=False),
)
OWNER = (
    Attr("project_id", "project_id", put=False, schema=STRING),
    Attr("tenant_id", "project_id", put=False, schema=STRING),
)


class Resource:
    """The attribute table of one resource and what it drives."""

    def __init__(self, name: str, model: Any, attrs: Iterable[Attr]) -> None:
        self.name = name
        self.model = model
        self.attrs: dict[str, Attr] = {}
        for attr in attrs:
            self.attrs[attr.name] = attr

    def __getitem__(self, name: str) -> Attr:
        return self.attrs[name]

    # ---- bodies --------------------------------------------------------------------

    def check_body(self, body: dict[str, Any], method: str) -> None:
        """Neutron's answers: a read-only attribute first, then any unknown ones."""
        allowed = {n: (a.post if method == "POST" else a.put) for n, a in self.attrs.items()}
        for name in sorted(body):
            if allowed.get(name) is False:
                raise BadRequest(f"Attribute '{name}' not allowed in {method}", kind="HTTPBadRequest")
        unknown = sorted(n for n in body if allowed.get(n) is None)
        if unknown:
            raise BadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'", kind="HTTPBadRequest")

    def value(self, body: dict[str, Any], name: str, default: Any = MISSING) -> Any:
        """The converted value the body gives, else the (given or declared) default, unconverted."""
        attr = self.attrs[name]
        if name in body:
            return attr.convert(body[name], name) if attr.convert else body[name]
        return attr.default if default is MISSING else default

    def enforce_given(self, svc: "NetworkService", ctx: RequestContext, action: str, body: dict[str, Any],
                      target: dict[str, Any]) -> None:
        """`create_x:attr` for each policy attribute set to other than its default; `update_x:attr` when given."""
        for name, attr in self.attrs.items():
            if not attr.policy or name not in body:
                continue
            if action == "create" and (body[name] is None or body[name] == attr.default):
                continue
            svc.enforce(ctx, f"{action}_{self.name}:{name}", target)

    def apply(self, row: Any, body: dict[str, Any]) -> None:
        """The plain update loop: every given attribute with a column and a converter."""
        for name, value in body.items():
            attr = self.attrs.get(name)
            if attr is not None and attr.put and attr.column and attr.convert:
                setattr(row, attr.column, attr.convert(value, name))

    def visible(self, svc: "NetworkService", ctx: RequestContext | None, name: str, target: dict[str, Any]) -> bool:
        attr = self.attrs.get(name)
        if attr is None or attr.read_policy is None or ctx is None:
            return True
        return svc.allowed(ctx, attr.read_policy, target)

    # ---- the OpenAPI document ------------------------------------------------------

    def body_schema(self, method: str) -> dict[str, Any]:
        """The JSON Schema of `{name: {...}}` on create or update (documentation only:
        the service itself checks bodies, so the errors stay neutron's)."""
        props = {n: (a.schema or {}) for n, a in self.attrs.items() if (a.post if method == "POST" else a.put)}
        return {"type": "object", "required": [self.name],
                "properties": {self.name: {"type": "object", "properties": props}}}


def checked_list(value: Any, name: str) -> list[Any]:
    return as_list(value, name)
