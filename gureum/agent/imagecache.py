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

    def ready(self, image_id: str) -> Path | None:
        """The cached image, or None while it is not (wholly) here."""
        path = self.path_of(image_id)
        return path if path.exists() else None

    def ensure(self, image_id: str, cancel: threading.Event | None = None) -> Path:
        """Fetch the image unless it is here; slow (minutes for a large image): run it beside the pass."""
        path = self.path_of(image_id)
        with self._locks[image_id]:
            if not path.exists():
                self.client.download_image(image_id, path, cancel)
                path.chmod(0o444)
        return path

    def prune(self, in_use: set[str]) -> list[str]:
        """Drop cached images no instance on this host uses (their overlays need the base); returns them."""
        dropped = []
        for entry in self.cache_dir.iterdir():
            if entry.name.startswith(".") or entry.name in in_use:
                continue
            lock = self._locks[entry.name]
            if not lock.acquire(blocking=False):
                continue  # being fetched: someone wants it; never wait here (the pass calls this)
            try:
                entry.unlink(missing_ok=True)
            finally:
                lock.release()
            dropped.append(entry.name)
        return dropped
