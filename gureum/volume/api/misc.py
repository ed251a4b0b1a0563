"""Availability zones, os-services (3.32 adds log levels; not served) and extensions."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute, Route

from gureum.db.base import utcnow
from gureum.http.endpoint import ApiRequest, endpoint
from gureum.volume import views
from gureum.volume.api.common import microversion, params

# The extensions whose APIs gureum answers, as Cinder names them.
EXTENSIONS = (
    ("AvailabilityZones", "os-availability-zone", "Describe Availability Zones."),
    ("ExtendedSnapshotAttributes", "os-extended-snapshot-attributes", "Extended SnapshotAttributes support."),
    ("Quotas", "os-quota-sets", "Quota management support."),
    ("Services", "os-services", "Services support."),
    ("TypesManage", "os-types-manage", "Types manage support."),
    ("TypesExtraSpecs", "os-types-extra-specs", "Type extra specs support."),
    ("VolumeActions", "os-volume-actions", "Enable volume actions."),
    ("VolumeAdminActions", "os-admin-actions", "Enable admin actions."),
    ("SnapshotActions", "os-snapshot-actions", "Enable snapshot actions."),
    ("VolumeHostAttribute", "os-vol-host-attr", "Expose host as an attribute of a volume."),
    ("VolumeImageMetadata", "os-vol-image-meta", "Show image metadata associated with the volume."),
    ("VolumeMigStatusAttribute", "os-vol-mig-status-attr", "Expose migration_status as an attribute of a volume."),
    ("VolumeTenantAttribute", "os-vol-tenant-attr", "Expose the internal project_id as an attribute of a volume."),
    ("VolumeTransfer", "os-volume-transfer", "Volume transfer management support."),
    ("VolumeTypeAccess", "os-volume-type-access", "Volume type access support."),
    ("UsedLimits", "os-used-limits", "Provide data on limited resources that are being used."),
)


@endpoint(auth=True)
def list_zones(req: ApiRequest) -> Any:
    zones = req.cloud.volume.availability_zones(req.context)
    return {"availabilityZoneInfo": [{"zoneName": z, "zoneState": {"available": True}} for z in zones]}


@endpoint(auth=True)
def list_services(req: ApiRequest) -> Any:
    version = microversion(req)
    services = []
    for kind, item in req.cloud.volume.list_services(req.context, params(req)):
        if kind == "scheduler":
            services.append(views.scheduler_service_view(item, "nova", utcnow(), version))
        else:
            host, up = item
            services.append(views.service_view(host, up, version))
    return {"services": services}


@endpoint(auth=True)
def list_extensions(req: ApiRequest) -> Any:
    return {"extensions": [
        {"name": name, "alias": alias, "description": description, "links": [],
         "updated": "2013-01-01T00:00:00+00:00", "namespace": ""}
        for name, alias, description in EXTENSIONS
    ]}


@endpoint(auth=True, json_body=True)
def change_service(req: ApiRequest) -> Any:
    return req.cloud.volume.change_service(req.context, req.path["action"], req.body)


def routes() -> list[BaseRoute]:
    return [
        Route("/v3/os-availability-zone", list_zones, methods=["GET"]),
        Route("/v3/os-services", list_services, methods=["GET"]),
        Route("/v3/os-services/{action}", change_service, methods=["PUT"]),
        Route("/v3/extensions", list_extensions, methods=["GET"]),
    ]
