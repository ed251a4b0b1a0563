"""Nova's default policy: the rule names operators know, with nova's 2024 defaults.

Scope checks are off (as nova ships with enforce_scope=False): a project-scoped
admin is the cloud admin. Targets carry `project_id` (the resource's project) and,
for keypairs, `user_id` (the keypair's owner). The identity service registers
`admin_or_owner` with a different meaning (the token's user), so nova's deprecated
rule of that name is left out; nothing here refers to it.
"""

from __future__ import annotations

ADMIN = "rule:context_is_admin"
PROJECT_MEMBER_OR_ADMIN = "rule:project_member_or_admin"
PROJECT_READER_OR_ADMIN = "rule:project_reader_or_admin"
PROJECT_MANAGER_OR_ADMIN = "rule:project_manager_or_admin"
SERVICE_OR_ADMIN = "rule:service_or_admin"
ADMIN_OR_KEYPAIR_OWNER = "(rule:context_is_admin) or user_id:%(user_id)s"
ANY = "@"
NOBODY = "!"

COMPUTE_POLICIES: dict[str, str] = {
    # Base rules
    "context_is_admin": "role:admin",
    "admin_api": "role:admin",
    "project_manager_api": "role:manager and project_id:%(project_id)s",
    "project_member_api": "role:member and project_id:%(project_id)s",
    "project_reader_api": "role:reader and project_id:%(project_id)s",
    "service_api": "role:service",
    "project_manager_or_admin": "rule:project_manager_api or rule:context_is_admin",
    "project_member_or_admin": "rule:project_member_api or rule:context_is_admin",
    "project_reader_or_admin": "rule:project_reader_api or rule:context_is_admin",
    # Same meaning as the identity service's rule of this name (admin or service role).
    "service_or_admin": "rule:service_api or rule:context_is_admin",
    # os-admin-actions
    "os_compute_api:os-admin-actions:reset_state": ADMIN,
    "os_compute_api:os-admin-actions:inject_network_info": ADMIN,
    # os-admin-password
    "os_compute_api:os-admin-password": PROJECT_MEMBER_OR_ADMIN,
    # os-aggregates
    "os_compute_api:os-aggregates:set_metadata": ADMIN,
    "os_compute_api:os-aggregates:add_host": ADMIN,
    "os_compute_api:os-aggregates:create": ADMIN,
    "os_compute_api:os-aggregates:remove_host": ADMIN,
    "os_compute_api:os-aggregates:update": ADMIN,
    "os_compute_api:os-aggregates:index": ADMIN,
    "os_compute_api:os-aggregates:delete": ADMIN,
    "os_compute_api:os-aggregates:show": ADMIN,
    # aggregates
    "compute:aggregates:images": ADMIN,
    # os-assisted-volume-snapshots
    "os_compute_api:os-assisted-volume-snapshots:create": SERVICE_OR_ADMIN,
    "os_compute_api:os-assisted-volume-snapshots:delete": SERVICE_OR_ADMIN,
    # os-attach-interfaces
    "os_compute_api:os-attach-interfaces:list": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-attach-interfaces:show": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-attach-interfaces:create": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-attach-interfaces:delete": PROJECT_MEMBER_OR_ADMIN,
    # os-availability-zone
    "os_compute_api:os-availability-zone:list": ANY,
    "os_compute_api:os-availability-zone:detail": ADMIN,
    # os-baremetal-nodes
    "os_compute_api:os-baremetal-nodes:list": ADMIN,
    "os_compute_api:os-baremetal-nodes:show": ADMIN,
    # os-console-auth-tokens
    "os_compute_api:os-console-auth-tokens": ADMIN,
    # os-console-output
    "os_compute_api:os-console-output": PROJECT_MEMBER_OR_ADMIN,
    # os-create-backup
    "os_compute_api:os-create-backup": PROJECT_MEMBER_OR_ADMIN,
    # os-deferred-delete
    "os_compute_api:os-deferred-delete:restore": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-deferred-delete:force": PROJECT_MEMBER_OR_ADMIN,
    # os-evacuate
    "os_compute_api:os-evacuate": ADMIN,
    # os-extended-server-attributes
    "os_compute_api:os-extended-server-attributes": ADMIN,
    # extensions
    "os_compute_api:extensions": ANY,
    # os-flavor-access
    "os_compute_api:os-flavor-access:add_tenant_access": ADMIN,
    "os_compute_api:os-flavor-access:remove_tenant_access": ADMIN,
    "os_compute_api:os-flavor-access": ADMIN,
    # os-flavor-extra-specs
    "os_compute_api:os-flavor-extra-specs:show": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-flavor-extra-specs:create": ADMIN,
    "os_compute_api:os-flavor-extra-specs:update": ADMIN,
    "os_compute_api:os-flavor-extra-specs:delete": ADMIN,
    "os_compute_api:os-flavor-extra-specs:index": PROJECT_READER_OR_ADMIN,
    # os-flavor-manage
    "os_compute_api:os-flavor-manage:create": ADMIN,
    "os_compute_api:os-flavor-manage:update": ADMIN,
    "os_compute_api:os-flavor-manage:delete": ADMIN,
    # os-floating-ip-pools
    "os_compute_api:os-floating-ip-pools": ANY,
    # os-floating-ips
    "os_compute_api:os-floating-ips:add": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-floating-ips:remove": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-floating-ips:list": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-floating-ips:create": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-floating-ips:show": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-floating-ips:delete": PROJECT_MEMBER_OR_ADMIN,
    # os-hosts
    "os_compute_api:os-hosts:list": ADMIN,
    "os_compute_api:os-hosts:show": ADMIN,
    "os_compute_api:os-hosts:update": ADMIN,
    "os_compute_api:os-hosts:reboot": ADMIN,
    "os_compute_api:os-hosts:shutdown": ADMIN,
    "os_compute_api:os-hosts:start": ADMIN,
    # os-hypervisors
    "os_compute_api:os-hypervisors:list": ADMIN,
    "os_compute_api:os-hypervisors:list-detail": ADMIN,
    "os_compute_api:os-hypervisors:statistics": ADMIN,
    "os_compute_api:os-hypervisors:show": ADMIN,
    "os_compute_api:os-hypervisors:uptime": ADMIN,
    "os_compute_api:os-hypervisors:search": ADMIN,
    "os_compute_api:os-hypervisors:servers": ADMIN,
    # os-instance-actions
    "os_compute_api:os-instance-actions:events:details": ADMIN,
    "os_compute_api:os-instance-actions:events": ADMIN,
    "os_compute_api:os-instance-actions:list": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-instance-actions:show": PROJECT_READER_OR_ADMIN,
    # os-instance-usage-audit-log
    "os_compute_api:os-instance-usage-audit-log:list": ADMIN,
    "os_compute_api:os-instance-usage-audit-log:show": ADMIN,
    # ips
    "os_compute_api:ips:show": PROJECT_READER_OR_ADMIN,
    "os_compute_api:ips:index": PROJECT_READER_OR_ADMIN,
    # os-keypairs
    "os_compute_api:os-keypairs:index": ADMIN_OR_KEYPAIR_OWNER,
    "os_compute_api:os-keypairs:create": ADMIN_OR_KEYPAIR_OWNER,
    "os_compute_api:os-keypairs:delete": ADMIN_OR_KEYPAIR_OWNER,
    "os_compute_api:os-keypairs:show": ADMIN_OR_KEYPAIR_OWNER,
    # limits
    "os_compute_api:limits": ANY,
    "os_compute_api:limits:other_project": ADMIN,
    # os-lock-server
    "os_compute_api:os-lock-server:lock": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-lock-server:unlock": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-lock-server:unlock:unlock_override": ADMIN,
    # os-migrate-server
    "os_compute_api:os-migrate-server:migrate": PROJECT_MANAGER_OR_ADMIN,
    "os_compute_api:os-migrate-server:migrate:host": ADMIN,
    "os_compute_api:os-migrate-server:migrate_live": PROJECT_MANAGER_OR_ADMIN,
    "os_compute_api:os-migrate-server:migrate_live:host": ADMIN,
    # os-migrations
    "os_compute_api:os-migrations:index": PROJECT_MANAGER_OR_ADMIN,
    "os_compute_api:os-migrations:index:all_projects": ADMIN,
    "os_compute_api:os-migrations:index:host": ADMIN,
    # os-multinic
    "os_compute_api:os-multinic:add": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-multinic:remove": PROJECT_MEMBER_OR_ADMIN,
    # os-networks
    "os_compute_api:os-networks:list": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-networks:show": PROJECT_READER_OR_ADMIN,
    # os-pause-server
    "os_compute_api:os-pause-server:pause": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-pause-server:unpause": PROJECT_MEMBER_OR_ADMIN,
    # os-quota-class-sets
    "os_compute_api:os-quota-class-sets:show": ADMIN,
    "os_compute_api:os-quota-class-sets:update": ADMIN,
    # os-quota-sets
    "os_compute_api:os-quota-sets:update": ADMIN,
    "os_compute_api:os-quota-sets:defaults": ANY,
    "os_compute_api:os-quota-sets:show": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-quota-sets:delete": ADMIN,
    "os_compute_api:os-quota-sets:detail": PROJECT_READER_OR_ADMIN,
    # os-remote-consoles
    "os_compute_api:os-remote-consoles": PROJECT_MEMBER_OR_ADMIN,
    # os-rescue
    "os_compute_api:os-rescue": PROJECT_MEMBER_OR_ADMIN,
    # os-unrescue
    "os_compute_api:os-unrescue": PROJECT_MEMBER_OR_ADMIN,
    # os-security-groups
    "os_compute_api:os-security-groups:get": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-security-groups:show": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-security-groups:create": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-security-groups:update": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-security-groups:delete": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-security-groups:rule:create": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-security-groups:rule:delete": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-security-groups:list": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-security-groups:add": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-security-groups:remove": PROJECT_MEMBER_OR_ADMIN,
    # os-server-diagnostics
    "os_compute_api:os-server-diagnostics": ADMIN,
    # os-server-external-events
    "os_compute_api:os-server-external-events:create": SERVICE_OR_ADMIN,
    # os-server-groups
    "os_compute_api:os-server-groups:create": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-server-groups:delete": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-server-groups:index": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-server-groups:index:all_projects": ADMIN,
    "os_compute_api:os-server-groups:show": PROJECT_READER_OR_ADMIN,
    # server-metadata
    "os_compute_api:server-metadata:index": PROJECT_READER_OR_ADMIN,
    "os_compute_api:server-metadata:show": PROJECT_READER_OR_ADMIN,
    "os_compute_api:server-metadata:create": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:server-metadata:update_all": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:server-metadata:update": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:server-metadata:delete": PROJECT_MEMBER_OR_ADMIN,
    # os-server-password
    "os_compute_api:os-server-password:show": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-server-password:clear": PROJECT_MEMBER_OR_ADMIN,
    # os-server-shares
    "os_compute_api:os-server-shares:index": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-server-shares:create": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-server-shares:show": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-server-shares:delete": PROJECT_MEMBER_OR_ADMIN,
    # os-server-tags
    "os_compute_api:os-server-tags:delete_all": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-server-tags:index": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-server-tags:update_all": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-server-tags:delete": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-server-tags:update": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-server-tags:show": PROJECT_READER_OR_ADMIN,
    # server
    "compute:server:topology:index": PROJECT_READER_OR_ADMIN,
    "compute:server:topology:host:index": ADMIN,
    # servers
    "os_compute_api:servers:index": PROJECT_READER_OR_ADMIN,
    "os_compute_api:servers:detail": PROJECT_READER_OR_ADMIN,
    "os_compute_api:servers:index:get_all_tenants": ADMIN,
    "os_compute_api:servers:detail:get_all_tenants": ADMIN,
    "os_compute_api:servers:allow_all_filters": ADMIN,
    "os_compute_api:servers:show": PROJECT_READER_OR_ADMIN,
    "os_compute_api:servers:show:flavor-extra-specs": PROJECT_READER_OR_ADMIN,
    "os_compute_api:servers:show:host_status": ADMIN,
    "os_compute_api:servers:show:host_status:unknown-only": ADMIN,
    "os_compute_api:servers:create": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:servers:create:forced_host": ADMIN,
    "compute:servers:create:requested_destination": ADMIN,
    "os_compute_api:servers:create:attach_volume": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:servers:create:attach_network": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:servers:create:trusted_certs": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:servers:create:zero_disk_flavor": ADMIN,
    # attach_external_network
    "network:attach_external_network": ADMIN,
    # servers
    "os_compute_api:servers:delete": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:servers:update": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:servers:confirm_resize": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:servers:revert_resize": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:servers:reboot": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:servers:resize": PROJECT_MEMBER_OR_ADMIN,
    "compute:servers:resize:cross_cell": NOBODY,
    "os_compute_api:servers:rebuild": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:servers:rebuild:trusted_certs": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:servers:create_image": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:servers:create_image:allow_volume_backed": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:servers:start": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:servers:stop": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:servers:trigger_crash_dump": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:servers:migrations:show": ADMIN,
    "os_compute_api:servers:migrations:force_complete": PROJECT_MANAGER_OR_ADMIN,
    "os_compute_api:servers:migrations:delete": PROJECT_MANAGER_OR_ADMIN,
    "os_compute_api:servers:migrations:index": PROJECT_MANAGER_OR_ADMIN,
    "os_compute_api:servers:migrations:index:host": ADMIN,
    # os-services
    "os_compute_api:os-services:list": ADMIN,
    "os_compute_api:os-services:update": ADMIN,
    "os_compute_api:os-services:delete": ADMIN,
    # os-shelve
    "os_compute_api:os-shelve:shelve": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-shelve:unshelve": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-shelve:unshelve_to_host": ADMIN,
    "os_compute_api:os-shelve:shelve_offload": ADMIN,
    # os-simple-tenant-usage
    "os_compute_api:os-simple-tenant-usage:show": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-simple-tenant-usage:list": ADMIN,
    # os-suspend-server
    "os_compute_api:os-suspend-server:resume": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-suspend-server:suspend": PROJECT_MEMBER_OR_ADMIN,
    # os-tenant-networks
    "os_compute_api:os-tenant-networks:list": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-tenant-networks:show": PROJECT_READER_OR_ADMIN,
    # os-volumes
    "os_compute_api:os-volumes:list": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-volumes:create": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-volumes:detail": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-volumes:show": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-volumes:delete": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-volumes:snapshots:list": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-volumes:snapshots:create": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-volumes:snapshots:detail": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-volumes:snapshots:show": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-volumes:snapshots:delete": PROJECT_MEMBER_OR_ADMIN,
    # os-volumes-attachments
    "os_compute_api:os-volumes-attachments:index": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-volumes-attachments:create": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-volumes-attachments:show": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-volumes-attachments:update": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-volumes-attachments:swap": SERVICE_OR_ADMIN,
    "os_compute_api:os-volumes-attachments:delete": PROJECT_MEMBER_OR_ADMIN,
}
