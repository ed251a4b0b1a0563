"""Image quotas through unified limits (keystone limits), the way glance enforces them.

The limit comes from identity: the project's limit, else the registered default
(the image service registers DEFAULT_LIMITS at start, so they are visible and a
project override works at once). When identity has neither (an operator deleted
the registered limit), these defaults still apply: a missing limit is never 0
(the seed's cloud refused every image with "over limit of 0" until an operator
registered four limits by hand).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gureum.http.errors import PayloadTooLarge
from gureum.image.models import Image

if TYPE_CHECKING:
    from gureum.cloud import Cloud

MIB = 1024 * 1024
SERVICE_TYPE = "image"

IMAGE_COUNT_TOTAL = "image_count_total"
IMAGE_COUNT_UPLOADING = "image_count_uploading"
IMAGE_SIZE_TOTAL = "image_size_total"  # MiB
IMAGE_STAGE_TOTAL = "image_stage_total"  # MiB

DEFAULT_LIMITS: Mapping[str, int] = {
    IMAGE_COUNT_TOTAL: 1000,
    IMAGE_COUNT_UPLOADING: 100,
    IMAGE_SIZE_TOTAL: 1048576,
    IMAGE_STAGE_TOTAL: 1048576,
}
UNLIMITED = -1

TRANSFER_STATUSES = ("saving", "uploading", "importing")
STORED_STATUSES = ("active", "deactivated")

LIMIT_EXCEEDED_PREAMBLE = (
    "The request returned a 413 Request Entity Too Large. This generally means that rate "
    "limiting or a quota threshold was breached.\n\nThe response body:\n"
)


@dataclass(frozen=True)
class OverLimit:
    resource: str
    limit: int
    usage: int
    delta: int

    def __str__(self) -> str:
        return (
            f"Resource {self.resource} is over limit of {self.limit} "
            f"due to current usage {self.usage} and delta {self.delta}"
        )


class ImageLimitExceeded(PayloadTooLarge):
    def __init__(self, project_id: str, over: list[OverLimit]) -> None:
        body = f"Project {project_id} is over a limit for [{', '.join(str(o) for o in over)}]"
        super().__init__(LIMIT_EXCEEDED_PREAMBLE + body)
        self.over = over


def limit_for(cloud: Cloud, project_id: str, resource: str) -> int:
    value = cloud.identity.limit_for(project_id, SERVICE_TYPE, resource)
    return DEFAULT_LIMITS[resource] if value is None else int(value)


def usage_of(session: Session, project_id: str, resource: str) -> int:
    """Current usage in the unit of the limit (images, or whole MiB as glance counts)."""
    owned = Image.owner == project_id
    if resource == IMAGE_COUNT_TOTAL:
        return session.scalar(select(func.count()).select_from(Image).where(owned)) or 0
    if resource == IMAGE_COUNT_UPLOADING:
        where = owned & Image.status.in_(TRANSFER_STATUSES)
        return session.scalar(select(func.count()).select_from(Image).where(where)) or 0
    return usage_bytes(session, project_id, resource) // MIB


def usage_bytes(session: Session, project_id: str, resource: str) -> int:
    owned = Image.owner == project_id
    if resource == IMAGE_SIZE_TOTAL:
        where = owned & Image.data_key.is_not(None)
        return int(session.scalar(select(func.coalesce(func.sum(Image.size), 0)).where(where)) or 0)
    if resource == IMAGE_STAGE_TOTAL:
        where = owned & Image.staged_size.is_not(None)
        return int(session.scalar(select(func.coalesce(func.sum(Image.staged_size), 0)).where(where)) or 0)
    raise ValueError(f"{resource} is not measured in bytes")


def enforce(cloud: Cloud, session: Session, project_id: str | None, deltas: Mapping[str, int]) -> None:
    """Raise 413 when usage + delta goes over a limit (oslo.limit's rule)."""
    if project_id is None:
        return
    over = []
    for resource, delta in deltas.items():
        limit = limit_for(cloud, project_id, resource)
        if limit == UNLIMITED:
            continue
        usage = usage_of(session, project_id, resource)
        if usage + delta > limit:
            over.append(OverLimit(resource, limit, usage, delta))
    if over:
        raise ImageLimitExceeded(project_id, over)


def bytes_allowed(cloud: Cloud, session: Session, project_id: str | None, resource: str) -> int | None:
    """How many more bytes may arrive before `resource` (MiB) goes over; None = no cap."""
    if project_id is None:
        return None
    limit = limit_for(cloud, project_id, resource)
    if limit == UNLIMITED:
        return None
    # Over means (usage + new) // MiB > limit, so the last acceptable total is one byte short.
    return max(0, (limit + 1) * MIB - 1 - usage_bytes(session, project_id, resource))


def transfer_over_limit(cloud: Cloud, session: Session, project_id: str, resource: str, received: int) -> ImageLimitExceeded:
    """The 413 for a stream that went past its cap, in glance's words."""
    limit = limit_for(cloud, project_id, resource)
    usage = usage_of(session, project_id, resource)
    return ImageLimitExceeded(project_id, [OverLimit(resource, limit, usage, received // MIB)])


def usage_report(cloud: Cloud, session: Session, project_id: str) -> dict[str, dict[str, int]]:
    """GET /v2/info/usage."""
    return {
        resource: {"limit": limit_for(cloud, project_id, resource), "usage": usage_of(session, project_id, resource)}
        for resource in DEFAULT_LIMITS
    }
