"""Role assignments: grants, and the effective roles a user holds on a scope.

Effective roles gather direct grants, grants to the user's groups, grants
inherited from the project's domain and parent projects, then every role the
held roles imply (admin implies member implies reader).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from gureum.identity.models import GroupMembership, ImpliedRole, Project, Role, RoleAssignment

SYSTEM_TARGET = "system"


@dataclass(frozen=True)
class Grant:
    actor_type: str  # "user" | "group"
    actor_id: str
    target_type: str  # "project" | "domain" | "system"
    target_id: str
    role_id: str
    inherited: bool = False


def group_ids_of(session: Session, user_id: str) -> list[str]:
    return list(session.execute(select(GroupMembership.group_id).where(GroupMembership.user_id == user_id)).scalars())


def project_lineage(session: Session, project_id: str) -> tuple[str | None, list[str]]:
    """The project's domain and its ancestor projects, nearest first."""
    ancestors: list[str] = []
    project = session.get(Project, project_id)
    domain_id = project.domain_id if project else None
    seen = {project_id}
    while project is not None and project.parent_id and project.parent_id not in seen:
        seen.add(project.parent_id)
        ancestors.append(project.parent_id)
        project = session.get(Project, project.parent_id)
    return domain_id, ancestors


def expand_implied(session: Session, role_ids: Iterable[str]) -> set[str]:
    result = set(role_ids)
    frontier = set(result)
    while frontier:
        implied = set(
            session.execute(select(ImpliedRole.implied_role_id).where(ImpliedRole.prior_role_id.in_(frontier))).scalars()
        )
        frontier = implied - result
        result |= frontier
    return result


def direct_role_ids(session: Session, user_id: str, target_type: str, target_id: str) -> set[str]:
    """Roles granted on the target itself (and inherited from above, for projects)."""
    actors = [("user", user_id)] + [("group", g) for g in group_ids_of(session, user_id)]
    actor_clause = or_(*[and_(RoleAssignment.actor_type == t, RoleAssignment.actor_id == i) for t, i in actors])
    target_clauses = [
        and_(
            RoleAssignment.target_type == target_type,
            RoleAssignment.target_id == target_id,
            RoleAssignment.inherited.is_(False),
        )
    ]
    if target_type == "project":
        domain_id, ancestors = project_lineage(session, target_id)
        if domain_id:
            target_clauses.append(
                and_(
                    RoleAssignment.target_type == "domain",
                    RoleAssignment.target_id == domain_id,
                    RoleAssignment.inherited.is_(True),
                )
            )
        if ancestors:
            target_clauses.append(
                and_(
                    RoleAssignment.target_type == "project",
                    RoleAssignment.target_id.in_(ancestors),
                    RoleAssignment.inherited.is_(True),
                )
            )
    rows = session.execute(select(RoleAssignment.role_id).where(actor_clause, or_(*target_clauses))).scalars()
    return set(rows)


def effective_roles(session: Session, user_id: str, target_type: str, target_id: str) -> list[Role]:
    role_ids = expand_implied(session, direct_role_ids(session, user_id, target_type, target_id))
    if not role_ids:
        return []
    roles = session.execute(select(Role).where(Role.id.in_(role_ids))).scalars().all()
    return sorted(roles, key=lambda r: r.name)


def add_grant(session: Session, grant: Grant) -> None:
    exists = session.get(
        RoleAssignment,
        (grant.actor_type, grant.actor_id, grant.target_type, grant.target_id, grant.role_id, grant.inherited),
    )
    if exists is None:
        session.add(
            RoleAssignment(
                actor_type=grant.actor_type,
                actor_id=grant.actor_id,
                target_type=grant.target_type,
                target_id=grant.target_id,
                role_id=grant.role_id,
                inherited=grant.inherited,
            )
        )


def find_grant(session: Session, grant: Grant) -> RoleAssignment | None:
    return session.get(
        RoleAssignment,
        (grant.actor_type, grant.actor_id, grant.target_type, grant.target_id, grant.role_id, grant.inherited),
    )


def projects_with_roles(session: Session, user_id: str) -> set[str]:
    """Projects where the user holds any role, directly, by group, or inherited."""
    actors = [("user", user_id)] + [("group", g) for g in group_ids_of(session, user_id)]
    actor_clause = or_(*[and_(RoleAssignment.actor_type == t, RoleAssignment.actor_id == i) for t, i in actors])
    rows = session.execute(
        select(RoleAssignment.target_type, RoleAssignment.target_id, RoleAssignment.inherited).where(actor_clause)
    ).all()
    project_ids: set[str] = set()
    inherited_domains: set[str] = set()
    inherited_projects: set[str] = set()
    for target_type, target_id, inherited in rows:
        if target_type == "project":
            (inherited_projects if inherited else project_ids).add(target_id)
        elif target_type == "domain" and inherited:
            inherited_domains.add(target_id)
    if inherited_domains:
        project_ids |= set(
            session.execute(select(Project.id).where(Project.domain_id.in_(inherited_domains))).scalars()
        )
    frontier = inherited_projects
    while frontier:
        children = set(session.execute(select(Project.id).where(Project.parent_id.in_(frontier))).scalars())
        frontier = children - project_ids
        project_ids |= children
    return project_ids


def domains_with_roles(session: Session, user_id: str) -> set[str]:
    actors = [("user", user_id)] + [("group", g) for g in group_ids_of(session, user_id)]
    actor_clause = or_(*[and_(RoleAssignment.actor_type == t, RoleAssignment.actor_id == i) for t, i in actors])
    rows = session.execute(
        select(RoleAssignment.target_id).where(
            actor_clause, RoleAssignment.target_type == "domain", RoleAssignment.inherited.is_(False)
        )
    ).scalars()
    return set(rows)
