"""The services this controller serves: where each lives and how the catalog lists it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceEntry:
    type: str
    name: str
    # Mount point on the one port.
    path: str
    # What the catalog URL adds to the mount point (a version, for compute and volume).
    catalog_suffix: str
    description: str


SERVICES: tuple[ServiceEntry, ...] = (
    ServiceEntry("identity", "keystone", "/identity", "", "Identity (Keystone v3 API)"),
    ServiceEntry("image", "glance", "/image", "", "Image (Glance v2 API)"),
    ServiceEntry("compute", "nova", "/compute", "/v2.1", "Compute (Nova v2.1 API)"),
    ServiceEntry("network", "neutron", "/network", "", "Networking (Neutron v2.0 API)"),
    ServiceEntry("object-store", "swift", "/object-store", "/v1/AUTH_%(project_id)s",
                 "Object Storage (Swift v1 API)"),
    # Cinder's two catalog types for one API; clients look up either.
    ServiceEntry("block-storage", "cinder", "/volume", "/v3/%(project_id)s", "Block Storage (Cinder v3 API)"),
    ServiceEntry("volumev3", "cinderv3", "/volume", "/v3/%(project_id)s", "Block Storage (Cinder v3 API)"),
)


def catalog_url(base_url: str, entry: ServiceEntry) -> str:
    return f"{base_url}{entry.path}{entry.catalog_suffix}"
