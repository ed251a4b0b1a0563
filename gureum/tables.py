"""Every service's tables on one metadata, for migrations and their drift test.

It stands outside gureum/db/ because the database layer imports no service.
"""

from gureum.compute import models as _compute  # noqa: F401
from gureum.db.base import Base
from gureum.identity import models as _identity  # noqa: F401
from gureum.image import models as _image  # noqa: F401
from gureum.network import models as _network  # noqa: F401
from gureum.objectstore import models as _objectstore  # noqa: F401
from gureum.volume import models as _volume  # noqa: F401

metadata = Base.metadata
