"""Glance's default policy rules, in oslo.policy syntax.

Which images a caller can see at all (public, community, own, shared with the
caller's project) is decided by the service before any rule is checked, as glance
decides it in its database layer; an image out of sight is a 404, not a 403. The
rules then say what a visible image's caller may do. Targets carry `project_id` (the
image owner), `owner`, `visibility` and `member_id` (the caller's project when it is
a member of the image).
"""

from __future__ import annotations

ADMIN = "rule:context_is_admin"
# Keystone's bootstrap makes member imply reader; accept either so a deployment that
# does not expand implied roles into tokens still works.
READER = "(role:reader or role:member)"
PROJECT_MEMBER = "role:member and project_id:%(project_id)s"
ADMIN_OR_PROJECT_MEMBER = f"{ADMIN} or ({PROJECT_MEMBER})"
ADMIN_OR_PROJECT_READER = f"{ADMIN} or ({READER} and project_id:%(project_id)s)"
ADMIN_OR_READER_OF_VISIBLE_IMAGE = f"{ADMIN} or {READER}"
ADMIN_OR_MEMBER_OF_VISIBLE_IMAGE = f"{ADMIN} or role:member"
ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER = (
    f"{ADMIN} or ({READER} and (project_id:%(project_id)s or project_id:%(member_id)s))"
)
ADMIN_OR_SHARED_MEMBER = f"{ADMIN} or (role:member and project_id:%(member_id)s)"

DEFAULT_RULES: dict[str, str] = {
    "add_image": f"{ADMIN} or ({PROJECT_MEMBER} and project_id:%(owner)s)",
    "delete_image": ADMIN_OR_PROJECT_MEMBER,
    "get_image": ADMIN_OR_READER_OF_VISIBLE_IMAGE,
    "get_images": ADMIN_OR_PROJECT_READER,
    "modify_image": ADMIN_OR_PROJECT_MEMBER,
    "publicize_image": ADMIN,
    "communitize_image": ADMIN_OR_PROJECT_MEMBER,
    "download_image": ADMIN_OR_MEMBER_OF_VISIBLE_IMAGE,
    "upload_image": ADMIN_OR_PROJECT_MEMBER,
    "add_member": ADMIN_OR_PROJECT_MEMBER,
    "delete_member": ADMIN_OR_PROJECT_MEMBER,
    "get_member": ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER,
    "get_members": ADMIN_OR_PROJECT_READER_OR_SHARED_MEMBER,
    "modify_member": ADMIN_OR_SHARED_MEMBER,
    "deactivate": ADMIN_OR_PROJECT_MEMBER,
    "reactivate": ADMIN_OR_PROJECT_MEMBER,
    "copy_image": ADMIN,
    "stores_info_detail": ADMIN,
}

# Shared across services; registered only if nobody else did.
BASE_RULES: dict[str, str] = {
    "context_is_admin": "role:admin",
}
