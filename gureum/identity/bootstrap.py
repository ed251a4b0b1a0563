"""First-start records, reconciled on every start: nothing here is ever created twice.

Default domain, the admin/member/reader roles (admin implies member implies
reader), admin and service projects, the admin user, and a catalog entry for
every service this controller serves, at the URL it serves it on now.
"""

from __future__ import annotations

import logging
import os
import secrets
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from gureum.identity.assignments import Grant, add_grant
from gureum.identity.models import Domain, Endpoint, ImpliedRole, Project, Region, Role, Service, User
from gureum.services import SERVICES, catalog_url

if TYPE_CHECKING:
    from gureum.cloud import Cloud

log = logging.getLogger(__name__)

DEFAULT_DOMAIN_ID = "default"
ROLE_CHAIN = ("admin", "member", "reader")
# ResellerAdmin: Swift's reseller_admin_role (owns every account); tempest's object storage tests need it.
EXTRA_ROLES = ("manager", "service", "ResellerAdmin")
INTERFACES = ("public", "internal", "admin")
ADMIN_PASSWORD_FILE = "admin-password"


def _ensure_role(session: Session, name: str) -> Role:
    role = session.execute(select(Role).where(Role.name == name, Role.domain_id == "")).scalar_one_or_none()
    if role is None:
        role = Role(name=name, domain_id="")
        session.add(role)
        session.flush()
    return role


def _ensure_project(session: Session, name: str, description: str) -> Project:
    project = session.execute(
        select(Project).where(Project.name == name, Project.domain_id == DEFAULT_DOMAIN_ID)
    ).scalar_one_or_none()
    if project is None:
        project = Project(name=name, domain_id=DEFAULT_DOMAIN_ID, description=description)
        session.add(project)
        session.flush()
    return project


def _ensure_catalog(session: Session, base_url: str, region: str) -> None:
    if session.get(Region, region) is None:
        session.add(Region(id=region, description=""))
    for entry in SERVICES:
        service = session.execute(
            select(Service).where(Service.type == entry.type, Service.name == entry.name)
        ).scalar_one_or_none()
        if service is None:
            service = Service(type=entry.type, name=entry.name, description=entry.description)
            session.add(service)
            session.flush()
        url = catalog_url(base_url, entry)
        existing = {
            e.interface: e
            for e in session.execute(select(Endpoint).where(Endpoint.service_id == service.id)).scalars()
            if e.extra.get("gureum_managed")
        }
        for interface in INTERFACES:
            endpoint = existing.get(interface)
            if endpoint is None:
                session.add(
                    Endpoint(
                        service_id=service.id,
                        interface=interface,
                        url=url,
                        region_id=region,
                        extra={"gureum_managed": True},
                    )
                )
            elif endpoint.url != url or endpoint.region_id != region:
                # The controller moved (another --listen): follow it.
                endpoint.url, endpoint.region_id = url, region


def _admin_password(cloud: "Cloud") -> str:
    """GUREUM_ADMIN_PASSWORD if given, else a generated one; kept 0600 in the state dir."""
    path = cloud.settings.state_dir / ADMIN_PASSWORD_FILE
    if path.exists():
        return path.read_text().strip()
    password = os.environ.get("GUREUM_ADMIN_PASSWORD") or secrets.token_urlsafe(18)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return password


def read_admin_password(cloud: "Cloud") -> str:
    return (cloud.settings.state_dir / ADMIN_PASSWORD_FILE).read_text().strip()


def bootstrap(cloud: "Cloud") -> None:
    settings = cloud.settings
    with cloud.identity.write() as session:
        if session.get(Domain, DEFAULT_DOMAIN_ID) is None:
            session.add(Domain(id=DEFAULT_DOMAIN_ID, name="Default", description="The default domain"))
            session.flush()
        chain = [_ensure_role(session, name) for name in ROLE_CHAIN]
        for name in EXTRA_ROLES:
            _ensure_role(session, name)
        for prior, implied in zip(chain, chain[1:]):
            if session.get(ImpliedRole, (prior.id, implied.id)) is None:
                session.add(ImpliedRole(prior_role_id=prior.id, implied_role_id=implied.id))
        admin_project = _ensure_project(session, "admin", "Bootstrap project for the cloud administrator")
        _ensure_project(session, "service", "Project for service users")
        admin = session.execute(
            select(User).where(User.name == "admin", User.domain_id == DEFAULT_DOMAIN_ID)
        ).scalar_one_or_none()
        if admin is None:
            password = _admin_password(cloud)
            admin = User(
                name="admin",
                domain_id=DEFAULT_DOMAIN_ID,
                password_hash=cloud.identity.hasher.hash(password),
                default_project_id=admin_project.id,
            )
            session.add(admin)
            session.flush()
            log.info("bootstrap: created the admin user")
        admin_role = chain[0]
        add_grant(session, Grant("user", admin.id, "project", admin_project.id, admin_role.id))
        add_grant(session, Grant("user", admin.id, "system", "system", admin_role.id))
        _ensure_catalog(session, settings.base_url, settings.region)
