"""needed_libraries reads DT_NEEDED like readelf does."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from gureum.guest.elf import NotElf64, needed_libraries


def test_dynamic_binary_needs_libc() -> None:
    python = Path(os.path.realpath(sys.executable))
    assert "libc.so.6" in needed_libraries(python)


def test_non_elf_is_refused(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(NotElf64):
        needed_libraries(script)
