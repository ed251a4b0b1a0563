"""Cinder's default policy rules (cinder/policies/*.py), in oslo.policy syntax.

Which volumes a caller sees at all is decided in the service (its own project's,
every project's for an admin), as Cinder's database layer does; one out of sight is
a 404. The rules say what a caller may do with what it sees. Targets carry
`project_id` (the owner of the volume, snapshot, transfer or quota set).
"""

from __future__ import annotations

ADMIN = "rule:context_is_admin"
READER = "(role:reader or role:member)"
PROJECT_MEMBER = "role:member and project_id:%(project_id)s"
PROJECT_READER = f"{READER} and project_id:%(project_id)s"
ADMIN_OR_MEMBER = f"{ADMIN} or ({PROJECT_MEMBER})"
ADMIN_OR_READER = f"{ADMIN} or ({PROJECT_READER})"

_MEMBER_ACTIONS = (
    "volume:create", "volume:create_from_image", "volume:update", "volume:delete", "volume:extend",
    "volume:extend_attached_volume", "volume:retype", "volume:update_readonly_flag",
    "volume:revert_to_snapshot", "volume_extension:volume_actions:upload_image",
    "volume_extension:volume_actions:reserve", "volume_extension:volume_actions:unreserve",
    "volume_extension:volume_actions:begin_detaching", "volume_extension:volume_actions:roll_detaching",
    "volume_extension:volume_actions:attach", "volume_extension:volume_actions:detach",
    "volume_extension:volume_actions:initialize_connection",
    "volume_extension:volume_actions:terminate_connection", "volume:update_volume_metadata",
    "volume:delete_volume_metadata", "volume:update_snapshot_metadata", "volume:delete_snapshot_metadata",
    "volume_extension:volume_image_metadata:set", "volume_extension:volume_image_metadata:remove",
    "volume:create_snapshot", "snapshot_extension:snapshot_actions:update_snapshot_status", "volume:update_snapshot", "volume:delete_snapshot",
    "volume:create_transfer", "volume:delete_transfer", "volume:attachment_create",
    "volume:attachment_update", "volume:attachment_complete", "volume:attachment_delete",
    "volume_extension:volume_actions:set_bootable", "backup:create", "backup:delete", "backup:restore",
    "backup:update",
)
_READER_ACTIONS = (
    "volume:get", "volume:get_all", "volume:get_volume_metadata", "volume:get_snapshot",
    "volume:get_all_snapshots", "volume:get_snapshot_metadata", "volume_extension:volume_image_metadata:show",
    "volume:get_transfer", "volume:get_all_transfers", "volume:attachment_get",
    "volume:attachment_get_all", "volume_extension:quotas:show", "limits_extension:used_limits",
    "backup:get", "backup:get_all",
)
_ADMIN_ACTIONS = (
    "volume:force_delete", "volume_extension:volume_admin_actions:reset_status",
    "volume_extension:snapshot_admin_actions:reset_status",
    "volume_extension:volume_admin_actions:force_delete",
    "volume_extension:snapshot_admin_actions:force_delete",
    "volume_extension:volume_admin_actions:force_detach", "volume_extension:types_manage",
    "volume_extension:types_extra_specs:create", "volume_extension:types_extra_specs:update",
    "volume_extension:types_extra_specs:delete", "volume_extension:volume_type_access:addProjectAccess",
    "volume_extension:volume_type_access:removeProjectAccess", "volume_extension:quotas:update",
    "volume_extension:quotas:delete", "volume_extension:quota_classes", "volume_extension:services:index",
    "volume_extension:services:update", "volume_extension:volume_host_attribute",
    "volume_extension:volume_mig_status_attribute", "volume:get_all_tenants",
    "backup:backup-import", "backup:backup-export", "backup_extension:backup_admin_actions:reset_status",
)

VOLUME_POLICIES: dict[str, str] = {
    **{name: ADMIN_OR_MEMBER for name in _MEMBER_ACTIONS},
    **{name: ADMIN_OR_READER for name in _READER_ACTIONS},
    **{name: ADMIN for name in _ADMIN_ACTIONS},
    # Anyone may accept a transfer they hold the key of; listing types and AZs is open.
    "volume:accept_transfer": "role:member or role:admin",
    "volume_extension:type_get": "@",
    "volume_extension:type_get_all": "@",
    "volume_extension:types_extra_specs:index": "@",
    "volume_extension:types_extra_specs:show": "@",
    "volume_extension:volume_type_access": "@",
    "volume_extension:volume_type_access:list": ADMIN,
    "volume_extension:availability_zone_list": "@",
    "volume_extension:extended_snapshot_attributes": "@",
    "volume_extension:quotas:defaults": "@",
}
