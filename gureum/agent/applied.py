"""What this node last did for each instance, kept on disk so it outlives the agent.

One-shot actions are counters in the desired state; comparing them with the
counters stored here makes each action happen exactly once.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Applied:
    reboot_count: int = 0
    rebuild_count: int = 0
    resize_count: int = 0
    image_id: str = ""
    vcpus: int = 0
    memory_mb: int = 0
    root_gb: int = 0
    snapshots_done: list[str] = field(default_factory=list)


class AppliedStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, instance_uuid: str) -> Path:
        return self.directory / f"{instance_uuid}.json"

    def load(self, instance_uuid: str) -> Applied | None:
        path = self._path(instance_uuid)
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return Applied(**{k: v for k, v in data.items() if k in Applied.__dataclass_fields__})

    def save(self, instance_uuid: str, applied: Applied) -> None:
        path = self._path(instance_uuid)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(applied)))
        os.replace(tmp, path)

    def forget(self, instance_uuid: str) -> None:
        self._path(instance_uuid).unlink(missing_ok=True)

    def known(self) -> set[str]:
        return {p.stem for p in self.directory.glob("*.json")}
