"""Account methods: HEAD/GET (the container listing) and POST of metadata."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from gureum.http.errors import BadRequest, Forbidden
from gureum.objectstore.access import Caller
from gureum.objectstore.listing import ListingQuery, keyset_list
from gureum.objectstore.metadata import merged_meta
from gureum.objectstore.models import Container

if TYPE_CHECKING:
    from gureum.objectstore.service import ObjectStoreService

# Metadata only a ResellerAdmin may set (account quotas); only owners see TempURL keys.
RESELLER_ONLY_META = ("quota-bytes",)
# Swift 2.34's account quota headers, kept beside user metadata under a reserved prefix.
SYSTEM_PREFIX = "sys:"
QUOTA_HEADERS = {"x-account-quota-bytes": "sys:quota-bytes", "x-account-quota-count": "sys:quota-count"}
OWNER_ONLY_META = ("temp-url-key", "temp-url-key-2")


@dataclass
class AccountView:
    project_id: str
    container_count: int = 0
    object_count: int = 0
    bytes_used: int = 0
    meta: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    # Per storage policy (one today): (containers, objects, bytes).
    policy_stats: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    # X-Account-Quota-Bytes/-Count as set by a ResellerAdmin.
    quotas: dict[str, str] = field(default_factory=dict)


class AccountMethods:
    def _account_view(self: "ObjectStoreService", s: Any, caller: Caller, project_id: str) -> AccountView:
        if not caller.reads(project_id):
            raise caller.denied()
        account = self.account_row(s, project_id)
        if account is None:
            return AccountView(project_id=project_id, created_at=time.time())
        meta = {k: v for k, v in account.meta.items() if not k.startswith(SYSTEM_PREFIX)}
        quotas = {k: v for k, v in account.meta.items() if k.startswith(SYSTEM_PREFIX)}
        if not caller.owns(project_id):
            for key in OWNER_ONLY_META:
                meta.pop(key, None)
        stats = {"Policy-0": (account.container_count, account.object_count, account.bytes_used)}
        return AccountView(project_id, account.container_count, account.object_count, account.bytes_used,
                           meta, account.created_at, stats,
                           {k[len(SYSTEM_PREFIX):]: v for k, v in quotas.items()})

    def show_account(self: "ObjectStoreService", caller: Caller, project_id: str) -> AccountView:
        with self.db.read() as s:
            return self._account_view(s, caller, project_id)

    def list_containers(self: "ObjectStoreService", caller: Caller, project_id: str,
                        query: ListingQuery) -> tuple[AccountView, list[Any]]:
        with self.db.read() as s:
            view = self._account_view(s, caller, project_id)
            base = select(Container).where(Container.project_id == project_id)
            return view, keyset_list(s, base, Container.name, query)

    def update_account(self: "ObjectStoreService", caller: Caller, project_id: str,
                       headers: Mapping[str, str]) -> None:
        if not caller.owns(project_id):
            raise caller.denied()
        quota_headers = [k for k in headers if k in QUOTA_HEADERS or k.startswith("x-remove-account-quota-")
                         or any(k.endswith("-meta-" + q) for q in RESELLER_ONLY_META)]
        if quota_headers and not caller.is_reseller():
            raise Forbidden("Access was denied to this resource.")
        for key in quota_headers:
            value = headers[key].strip()
            if not key.startswith("x-remove-") and value and not value.isdigit():
                raise BadRequest(f"Invalid quota in {key}: {value!r} is not a whole number.")
        with self.db.session() as s:
            account = self.ensure_account(s, project_id)
            meta = merged_meta({k: v for k, v in account.meta.items() if not k.startswith(SYSTEM_PREFIX)},
                               headers, "account")
            system = {k: v for k, v in account.meta.items() if k.startswith(SYSTEM_PREFIX)}
            for header, key in QUOTA_HEADERS.items():
                if header in headers:
                    if headers[header].strip():
                        system[key] = headers[header].strip()
                    else:
                        system.pop(key, None)
                if "x-remove-" + header[2:] in headers:
                    system.pop(key, None)
            account.meta = {**meta, **system}
