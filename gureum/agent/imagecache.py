"""Images cached once per host, shared read-only by every instance's overlay."""

from __future__ import annotations

import threading
from collections import defaultdict
from pathlib import Path

from gureum.agent.client import ControllerClient


class ImageCache:
    def __init__(self, cache_dir: Path, client: ControllerClient) -> None:
        self.cache_dir = cache_dir
        self.client = client
        cache_dir.mkdir(parents=True, exist_ok=True)
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        for stale in cache_dir.glob(".*.partial*"):
            stale.unlink(missing_ok=True)

    def path_of(self, image_id: str) -> Path:
        return self.cache_dir / image_id

    def ensure(self, image_id: str) -> Path:
        path = self.path_of(image_id)
        with self._locks[image_id]:
            if not path.exists():
                self.client.download_image(image_id, path)
                path.chmod(0o444)
        return path

    def prune(self, in_use: set[str]) -> None:
        """Drop cached images no instance on this host uses (their overlays need the base)."""
        for entry in self.cache_dir.iterdir():
            if entry.name.startswith(".") or entry.name in in_use:
                continue
            entry.unlink(missing_ok=True)
