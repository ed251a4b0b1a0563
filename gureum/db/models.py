"""Every service's tables, gathered so migrations see one metadata."""

from gureum.compute import models as _compute  # noqa: F401
from gureum.db.base import Base
from gureum.identity import models as _identity  # noqa: F401
from gureum.image import models as _image  # noqa: F401
from gureum.network import models as _network  # noqa: F401

metadata = Base.metadata
