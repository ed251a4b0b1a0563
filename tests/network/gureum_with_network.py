"""`gureum` with the network API mounted, for tests until the lead wires it into gureum.app.

Adds the catalog entry (type network, name neutron, <base>/network), mounts the app at
/network and creates the network tables (the alembic migration does not have them yet).
"""

from __future__ import annotations

import sys

import gureum.services as services

ENTRY = services.ServiceEntry("network", "neutron", "/network", "", "Networking (Neutron v2.0 API)")
if all(e.type != "network" for e in services.SERVICES):
    services.SERVICES = services.SERVICES + (ENTRY,)

import gureum.app as app  # noqa: E402
import gureum.cloud as cloud_module  # noqa: E402
from starlette.routing import Mount  # noqa: E402

from gureum.db.base import Base  # noqa: E402
from gureum.network import models  # noqa: E402,F401
from gureum.network.api import network_app  # noqa: E402

_original_build = app.build_app
_original_migrate = cloud_module.Cloud.migrate


def build_app(cloud):  # type: ignore[no-untyped-def]
    middleware = _original_build(cloud)
    if not any(getattr(r, "path", None) == "/network" for r in middleware.app.router.routes):
        middleware.app.router.routes.append(Mount("/network", app=network_app()))
    return middleware


def migrate(self):  # type: ignore[no-untyped-def]
    _original_migrate(self)
    tables = [t for name, t in Base.metadata.tables.items() if name.startswith("network_")]
    Base.metadata.create_all(self.db.engine, tables=tables)


app.build_app = build_app
cloud_module.Cloud.migrate = migrate

if __name__ == "__main__":
    from gureum.cli import main

    sys.exit(main())
