"""Who is asking: the request context every service sees after authentication."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RequestContext:
    user_id: str
    user_name: str
    user_domain_id: str
    user_domain_name: str
    roles: tuple[str, ...] = ()
    role_ids: tuple[str, ...] = ()
    project_id: str | None = None
    project_name: str | None = None
    project_domain_id: str | None = None
    project_domain_name: str | None = None
    domain_id: str | None = None
    domain_name: str | None = None
    system_scope: str | None = None
    expires_at: datetime | None = None
    issued_at: datetime | None = None
    audit_ids: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    application_credential_id: str | None = None
    token: str = ""
    remote_addr: str = ""
    request_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        """Cloud admin, as OpenStack's defaults have it: the admin role on any scope."""
        return "admin" in self.roles

    @property
    def scope_type(self) -> str | None:
        if self.project_id:
            return "project"
        if self.domain_id:
            return "domain"
        if self.system_scope:
            return "system"
        return None

    def policy_credentials(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "user_domain_id": self.user_domain_id,
            "project_id": self.project_id,
            "project_domain_id": self.project_domain_id,
            "domain_id": self.domain_id,
            "system_scope": self.system_scope,
            "roles": [r.lower() for r in self.roles],
            "token.domain.id": self.domain_id,
            "token.project.id": self.project_id,
            "token.project.domain.id": self.project_domain_id,
            "token.user.id": self.user_id,
            "token.user.domain.id": self.user_domain_id,
            "is_admin": self.is_admin,
        }
