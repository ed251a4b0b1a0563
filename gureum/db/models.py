"""Every service's tables, gathered so migrations see one metadata."""

import importlib

from gureum.compute import models as _compute  # noqa: F401
from gureum.db.base import Base
from gureum.identity import models as _identity  # noqa: F401
from gureum.image import models as _image  # noqa: F401
from gureum.network import models as _network  # noqa: F401

# Newer services' tables, registered by module name: db/ imports no service code
# (tests/test_layers.py), it only needs their tables on the one metadata.
for _tables in ("gureum.objectstore.models", "gureum.volume.models"):
    importlib.import_module(_tables)

metadata = Base.metadata
