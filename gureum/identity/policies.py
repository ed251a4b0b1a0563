"""Default identity policy, in the spirit of keystone's: admin of anything is
cloud admin (as OpenStack's defaults have it), system readers read, domain
readers read their domain, and users see and manage their own things."""

from __future__ import annotations

ADMIN = "rule:admin_required"
READER = "rule:admin_required or rule:system_reader"

IDENTITY_POLICIES: dict[str, str] = {
    "admin_required": "role:admin or is_admin:1",
    "system_reader": "role:reader and system_scope:all",
    "service_role": "role:service",
    "service_or_admin": "rule:admin_required or rule:service_role",
    # Tokens
    "identity:validate_token": "rule:service_or_admin or rule:system_reader or user_id:%(target.token.user_id)s",
    "identity:check_token": "rule:service_or_admin or rule:system_reader or user_id:%(target.token.user_id)s",
    "identity:revoke_token": "rule:service_or_admin or user_id:%(target.token.user_id)s",
    # Domains
    "identity:get_domain": f"{READER} or token.project.domain.id:%(target.domain.id)s"
    " or domain_id:%(target.domain.id)s or project_domain_id:%(target.domain.id)s",
    "identity:list_domains": READER,
    "identity:create_domain": ADMIN,
    "identity:update_domain": ADMIN,
    "identity:delete_domain": ADMIN,
    # Projects
    "identity:get_project": f"{READER} or project_id:%(target.project.id)s"
    " or (role:reader and domain_id:%(target.project.domain_id)s)",
    "identity:list_projects": f"{READER} or (role:reader and domain_id:%(target.domain_id)s)",
    "identity:list_user_projects": f"{READER} or user_id:%(target.user.id)s",
    "identity:create_project": ADMIN,
    "identity:update_project": ADMIN,
    "identity:delete_project": ADMIN,
    "identity:list_project_tags": f"{READER} or project_id:%(target.project.id)s",
    "identity:get_project_tag": f"{READER} or project_id:%(target.project.id)s",
    "identity:update_project_tags": ADMIN,
    "identity:create_project_tag": ADMIN,
    "identity:delete_project_tags": ADMIN,
    "identity:delete_project_tag": ADMIN,
    # Users
    "identity:get_user": f"{READER} or (role:reader and domain_id:%(target.user.domain_id)s)"
    " or user_id:%(target.user.id)s",
    "identity:list_users": f"{READER} or (role:reader and domain_id:%(target.domain_id)s)",
    "identity:create_user": ADMIN,
    "identity:update_user": ADMIN,
    "identity:delete_user": ADMIN,
    # Roles and implied roles
    "identity:get_role": READER,
    "identity:list_roles": READER,
    "identity:create_role": ADMIN,
    "identity:update_role": ADMIN,
    "identity:delete_role": ADMIN,
    "identity:get_domain_role": READER,
    "identity:list_domain_roles": READER,
    "identity:create_domain_role": ADMIN,
    "identity:update_domain_role": ADMIN,
    "identity:delete_domain_role": ADMIN,
    "identity:get_implied_role": READER,
    "identity:list_implied_roles": READER,
    "identity:create_implied_role": ADMIN,
    "identity:delete_implied_role": ADMIN,
    "identity:list_role_inference_rules": READER,
    "identity:check_implied_role": READER,
    # Grants and assignments
    "identity:check_grant": READER,
    "identity:list_grants": READER,
    "identity:create_grant": ADMIN,
    "identity:revoke_grant": ADMIN,
    "identity:list_role_assignments": f"{READER} or (role:reader and domain_id:%(target.domain_id)s)",
    "identity:list_role_assignments_for_tree": READER,
    "identity:list_system_grants_for_user": READER,
    "identity:check_system_grant_for_user": READER,
    "identity:create_system_grant_for_user": ADMIN,
    "identity:revoke_system_grant_for_user": ADMIN,
    "identity:list_system_grants_for_group": READER,
    "identity:check_system_grant_for_group": READER,
    "identity:create_system_grant_for_group": ADMIN,
    "identity:revoke_system_grant_for_group": ADMIN,
    # Catalog
    "identity:get_service": READER,
    "identity:list_services": READER,
    "identity:create_service": ADMIN,
    "identity:update_service": ADMIN,
    "identity:delete_service": ADMIN,
    "identity:get_endpoint": READER,
    "identity:list_endpoints": READER,
    "identity:create_endpoint": ADMIN,
    "identity:update_endpoint": ADMIN,
    "identity:delete_endpoint": ADMIN,
    # Regions are public knowledge in keystone.
    "identity:get_region": "",
    "identity:list_regions": "",
    "identity:create_region": ADMIN,
    "identity:update_region": ADMIN,
    "identity:delete_region": ADMIN,
    # Groups and membership
    "identity:get_group": f"{READER} or (role:reader and domain_id:%(target.group.domain_id)s)",
    "identity:list_groups": f"{READER} or (role:reader and domain_id:%(target.group.domain_id)s)",
    "identity:list_groups_for_user": f"{READER} or (role:reader and domain_id:%(target.user.domain_id)s)"
    " or user_id:%(target.user.id)s",
    "identity:create_group": ADMIN,
    "identity:update_group": ADMIN,
    "identity:delete_group": ADMIN,
    "identity:list_users_in_group": f"{READER} or (role:reader and domain_id:%(target.group.domain_id)s)",
    "identity:check_user_in_group": f"{READER} or (role:reader and domain_id:%(target.group.domain_id)s"
    " and domain_id:%(target.user.domain_id)s)",
    "identity:add_user_to_group": ADMIN,
    "identity:remove_user_from_group": ADMIN,
    # Application credentials: `user_id` is the owner of the credential (keystone's rule:owner).
    "owner": "user_id:%(user_id)s",
    "admin_or_owner": "rule:admin_required or rule:owner",
    "identity:get_application_credential": f"{READER} or rule:owner",
    "identity:list_application_credentials": f"{READER} or rule:owner",
    "identity:create_application_credential": "rule:owner",
    "identity:delete_application_credential": "rule:admin_or_owner",
    # Unified limits: anyone may read registered limits; a project's members read its limits.
    "identity:get_limit_model": "",
    "identity:get_registered_limit": "",
    "identity:list_registered_limits": "",
    "identity:create_registered_limits": ADMIN,
    "identity:update_registered_limit": ADMIN,
    "identity:delete_registered_limit": ADMIN,
    "identity:get_limit": f"{READER} or domain_id:%(target.limit.domain.id)s"
    " or domain_id:%(target.limit.project.domain_id)s or project_id:%(target.limit.project_id)s",
    "identity:list_limits": "",
    "identity:create_limits": ADMIN,
    "identity:update_limit": ADMIN,
    "identity:delete_limit": ADMIN,
    # Credentials (ec2, totp, cert): admins, and each user for their own.
    "identity:get_credential": f"{READER} or user_id:%(target.credential.user_id)s",
    "identity:list_credentials": f"{READER} or user_id:%(target.credential.user_id)s",
    "identity:create_credential": f"{ADMIN} or user_id:%(target.credential.user_id)s",
    "identity:update_credential": f"{ADMIN} or user_id:%(target.credential.user_id)s",
    "identity:delete_credential": f"{ADMIN} or user_id:%(target.credential.user_id)s",
    # OS-EC2: the owner (the user in the path), or an admin; readers read.
    "identity:ec2_get_credential": f"{READER} or user_id:%(target.credential.user_id)s",
    "identity:ec2_list_credentials": f"{READER} or rule:owner",
    "identity:ec2_create_credential": "rule:admin_or_owner",
    "identity:ec2_delete_credential": f"{ADMIN} or user_id:%(target.credential.user_id)s",
}
