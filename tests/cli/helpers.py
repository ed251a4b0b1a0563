"""Running the real `gureum` command as a user would."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from gureum.testing import VENV_BIN


def gureum(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "gureum"), *args], capture_output=True, text=True, input=stdin,
                          timeout=120)


def status_json(state: Path) -> dict[str, Any]:
    result = gureum("status", "--json", "--state-dir", str(state))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
