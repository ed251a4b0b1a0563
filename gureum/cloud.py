"""The controller's shared state: settings, database, policy and the services."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from gureum.config import Settings
from gureum.db.engine import Database
from gureum.db.migrate import upgrade
from gureum.identity.service import IdentityService
from gureum.policy import Enforcer

log = logging.getLogger(__name__)


def ensure_private_dir(path: Path) -> None:
    """Create a state directory owned by us and closed to others."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)


class Cloud:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        ensure_private_dir(settings.state_dir)
        self.db = Database(settings.effective_database_url)
        self.policy = Enforcer(settings.effective_policy_file)
        self.identity = IdentityService(self)
        from gureum.image.service import ImageService  # noqa: PLC0415 - services import the cloud lazily

        self.image = ImageService(self)
        from gureum.compute.service import ComputeService  # noqa: PLC0415

        self.compute = ComputeService(self)
        from gureum.network.service import NetworkService  # noqa: PLC0415

        self.network = NetworkService(self)
        from gureum.objectstore.service import ObjectStoreService  # noqa: PLC0415

        self.objectstore = ObjectStoreService(self)
        from gureum.volume.service import VolumeService  # noqa: PLC0415

        self.volume = VolumeService(self)

    def migrate(self) -> None:
        upgrade(self.db.engine)

    def start(self) -> None:
        """Migrate, load policy and keys, reconcile bootstrap records. Idempotent."""
        self.migrate()
        self.policy.load_overrides()
        self.identity.start()
        self.image.start()
        self.compute.start()
        self.network.start()
        self.objectstore.start()
        self.volume.start()

    def close(self) -> None:
        self.objectstore.stop()
        self.db.dispose()
