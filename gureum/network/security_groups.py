"""Security groups: each project's `default` group, CRUD, and nova's name-or-id lookup: no HTTP here.

The rules of a group are in `security_group_rules.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gureum.http.context import RequestContext
from gureum.http.errors import Conflict, NotFound
from gureum.network import views
from gureum.network.attributes import BOOLEAN, OWNER, STANDARD, STRING, Attr, Resource, boolean, string
from gureum.network.common import invalid_operation
from gureum.network.listing import ListQuery, Page, page, where
from gureum.network.models import DefaultSecurityGroup, Port, SecurityGroup, SecurityGroupRule
from gureum.network.ports import PORT

if TYPE_CHECKING:
    from gureum.network.service import NetworkService

SECURITY_GROUP = Resource("security_group", SecurityGroup, (
    *STANDARD, *OWNER,
    Attr("name", "name", convert=string, default="", schema=STRING),
    Attr("description", "description", convert=string, default="", schema=STRING),
    Attr("stateful", "stateful", convert=boolean, default=True, schema=BOOLEAN),
    Attr("shared", None, put=None, default=False, schema=BOOLEAN),
    Attr("security_group_rules", None, post=False, put=False),
    Attr("tags", None, post=None, put=None, const=[]),
))


def get_sg_row(session: Session, ctx: RequestContext, sg_id: str) -> SecurityGroup:
    sg = session.get(SecurityGroup, sg_id) if isinstance(sg_id, str) and sg_id else None
    if sg is None or not (ctx.is_admin or sg.project_id == ctx.project_id):
        raise NotFound(f"Security group {sg_id} does not exist", kind="SecurityGroupNotFound")
    return sg


def ensure_default_sg(session: Session, project_id: str | None) -> str | None:
    """The project's `default` group, created on first use: egress open, ingress from itself."""
    if not project_id:
        return None
    row = session.get(DefaultSecurityGroup, project_id)
    if row is not None:
        return row.security_group_id
    try:
        with session.begin_nested():
            sg = SecurityGroup(name="default", description="Default security group", project_id=project_id)
            session.add(sg)
            session.flush()
            session.add(DefaultSecurityGroup(project_id=project_id, security_group_id=sg.id))
            for ethertype in ("IPv4", "IPv6"):
                session.add(SecurityGroupRule(project_id=project_id, security_group_id=sg.id, direction="egress",
                                              ethertype=ethertype))
                session.add(SecurityGroupRule(project_id=project_id, security_group_id=sg.id, direction="ingress",
                                              ethertype=ethertype, remote_group_id=sg.id))
            session.flush()
        return sg.id
    except IntegrityError:
        # Another request created it first.
        row = session.get(DefaultSecurityGroup, project_id)
        return row.security_group_id if row else None


def list_security_groups(svc: "NetworkService", session: Session, ctx: RequestContext,
                         wanted: ListQuery) -> tuple[list[dict[str, Any]], Page]:
    ensure_default_sg(session, ctx.project_id)
    query = select(SecurityGroup)
    if not ctx.is_admin:
        query = query.where(SecurityGroup.project_id == ctx.project_id)
    query = query.where(*where(SECURITY_GROUP, wanted.filters, lambda _: True))
    result = page(session, SECURITY_GROUP, query, wanted)
    return views.security_groups(session, result.rows), result


def show_security_group(svc: "NetworkService", session: Session, ctx: RequestContext, sg_id: str) -> dict[str, Any]:
    return views.security_groups(session, [get_sg_row(session, ctx, sg_id)])[0]


def create_security_group(svc: "NetworkService", session: Session, ctx: RequestContext,
                          attrs: dict[str, Any]) -> dict[str, Any]:
    SECURITY_GROUP.check_body(attrs, "POST")
    project = svc.owner_of(ctx, attrs)
    svc.enforce(ctx, "create_security_group", {"project_id": project})
    name = SECURITY_GROUP.value(attrs, "name")
    ensure_default_sg(session, project)
    if name == "default":
        raise Conflict("Default security group already exists.", kind="SecurityGroupDefaultAlreadyExists")
    if attrs.get("shared"):
        raise invalid_operation("'shared' security groups need RBAC, which gureum does not have yet")
    svc.check_quota(session, project, "security_group")
    sg = SecurityGroup(name=name, description=SECURITY_GROUP.value(attrs, "description"), project_id=project,
                       stateful=SECURITY_GROUP.value(attrs, "stateful"))
    session.add(sg)
    session.flush()
    for ethertype in ("IPv4", "IPv6"):
        session.add(SecurityGroupRule(project_id=project, security_group_id=sg.id, direction="egress",
                                      ethertype=ethertype))
    session.flush()
    return show_security_group(svc, session, ctx, sg.id)


def update_security_group(svc: "NetworkService", session: Session, ctx: RequestContext, sg_id: str,
                          attrs: dict[str, Any]) -> dict[str, Any]:
    sg = get_sg_row(session, ctx, sg_id)
    SECURITY_GROUP.check_body(attrs, "PUT")
    svc.enforce(ctx, "update_security_group", {"project_id": sg.project_id})
    if "name" in attrs:
        name = SECURITY_GROUP.value(attrs, "name")
        is_default = session.get(DefaultSecurityGroup, sg.project_id)
        if is_default and is_default.security_group_id == sg.id and name != "default":
            raise Conflict("Updating default security group not allowed.", kind="SecurityGroupCannotUpdateDefault")
        if name == "default" and sg.name != "default":
            raise Conflict("Default security group already exists.", kind="SecurityGroupDefaultAlreadyExists")
    SECURITY_GROUP.apply(sg, attrs)
    sg.revision_number += 1
    session.flush()
    return show_security_group(svc, session, ctx, sg.id)


def delete_security_group(svc: "NetworkService", session: Session, ctx: RequestContext, sg_id: str) -> None:
    sg = get_sg_row(session, ctx, sg_id)
    svc.enforce(ctx, "delete_security_group", {"project_id": sg.project_id})
    default = session.get(DefaultSecurityGroup, sg.project_id)
    if default and default.security_group_id == sg.id and not ctx.is_admin:
        raise Conflict("Removing default security group not allowed.", kind="SecurityGroupCannotRemoveDefault")
    in_use = PORT["security_groups"].sql
    assert in_use is not None
    if session.scalar(select(Port.id).where(in_use([sg.id])).limit(1)):
        raise Conflict(f"Security Group {sg.id} in use.", kind="SecurityGroupInUse")
    if default and default.security_group_id == sg.id:
        session.delete(default)
    for rule in session.scalars(select(SecurityGroupRule).where(SecurityGroupRule.security_group_id == sg.id)):
        session.delete(rule)
    session.flush()
    session.delete(sg)


def find_security_group(session: Session, ctx: RequestContext, ref: str) -> SecurityGroup:
    """A group by id, or by name in the caller's project, as nova looks one up in neutron.

    `default` is the project's default group (made on first use). Unknown: NotFound;
    a name two groups share: Conflict (nova's NoUniqueMatch).
    """
    sg = session.get(SecurityGroup, ref)
    if sg is not None and (ctx.is_admin or sg.project_id == ctx.project_id):
        return sg
    if ref == "default":
        default = ensure_default_sg(session, ctx.project_id)
        sg = session.get(SecurityGroup, default) if default else None
    else:
        matches = list(session.scalars(select(SecurityGroup).where(
            SecurityGroup.name == ref, SecurityGroup.project_id == ctx.project_id)))
        if len(matches) > 1:
            raise Conflict(f"Multiple security groups named {ref}: use an id.", kind="NoUniqueMatch")
        sg = matches[0] if matches else None
    if sg is None:
        raise NotFound(f"Security group {ref} not found.", kind="SecurityGroupNotFound")
    return sg
