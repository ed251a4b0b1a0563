"""Nova's instance states and how they show as a server's status."""

from __future__ import annotations

# vm_state
BUILDING = "building"
ACTIVE = "active"
STOPPED = "stopped"
PAUSED = "paused"
SUSPENDED = "suspended"
RESIZED = "resized"
ERROR = "error"
DELETED = "deleted"

# power_state
NOSTATE, RUNNING, PAUSED_POWER, SHUTDOWN, CRASHED, SUSPENDED_POWER = 0, 1, 3, 4, 6, 7

POWER_FOR_DESIRED = {"running": RUNNING, "stopped": SHUTDOWN, "paused": PAUSED_POWER, "suspended": SUSPENDED_POWER}
VM_STATE_FOR_DESIRED = {"running": ACTIVE, "stopped": STOPPED, "paused": PAUSED, "suspended": SUSPENDED}

_STATUS_BY_VM_STATE = {
    BUILDING: "BUILD",
    ACTIVE: "ACTIVE",
    STOPPED: "SHUTOFF",
    PAUSED: "PAUSED",
    SUSPENDED: "SUSPENDED",
    RESIZED: "VERIFY_RESIZE",
    ERROR: "ERROR",
    DELETED: "DELETED",
}

_STATUS_BY_TASK = {
    "rebooting": "REBOOT",
    "reboot_pending": "REBOOT",
    "reboot_started": "REBOOT",
    "rebooting_hard": "HARD_REBOOT",
    "reboot_pending_hard": "HARD_REBOOT",
    "reboot_started_hard": "HARD_REBOOT",
    "rebuilding": "REBUILD",
    "rebuild_spawning": "REBUILD",
    "resize_prep": "RESIZE",
    "resize_migrating": "RESIZE",
    "resize_finish": "RESIZE",
    "resize_reverting": "REVERT_RESIZE",
}


def status(vm_state: str, task_state: str | None) -> str:
    """Server status: task states override ACTIVE/SHUTOFF the way Nova's state map does."""
    if vm_state in (ACTIVE, STOPPED) and task_state in _STATUS_BY_TASK:
        return _STATUS_BY_TASK[task_state]
    if vm_state == RESIZED and task_state == "resize_reverting":
        return "REVERT_RESIZE"
    return _STATUS_BY_VM_STATE.get(vm_state, "UNKNOWN")
