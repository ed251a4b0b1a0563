"""Write a config drive: an ISO 9660 image labelled config-2, as Nova makes them.

Made with genisoimage from Debian, with Nova's own flags (Rock Ridge and Joliet
so names keep their case and length), rather than pycdlib from PyPI: one
fewer Python dependency, and byte-for-byte what cloud-init already reads.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from gureum.agent.hypervisor.instance_metadata import InstanceMetadata, config_drive_files

CONFIG_DRIVE_LABEL = "config-2"


class ConfigDriveError(RuntimeError):
    """genisoimage failed."""


def build_config_drive(metadata: InstanceMetadata, target: Path) -> Path:
    """Write the ISO at `target` (replacing it atomically) and return `target`."""
    with tempfile.TemporaryDirectory(prefix="gureum-configdrive-") as scratch:
        tree = Path(scratch) / "tree"
        for relative, contents in config_drive_files(metadata).items():
            path = tree / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(contents)
        partial = target.with_name(f".{target.name}.partial")
        argv = ["genisoimage", "-o", str(partial), "-ldots", "-allow-lowercase", "-allow-multidot", "-l",
                "-publisher", "gureum", "-quiet", "-J", "-r", "-V", CONFIG_DRIVE_LABEL, str(tree)]
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0:
            partial.unlink(missing_ok=True)
            raise ConfigDriveError(f"genisoimage failed: {result.stderr.strip()}")
        os.replace(partial, target)
    return target
