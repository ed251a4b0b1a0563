"""Fixtures for the guest builder tests."""

from __future__ import annotations

import pytest

from gureum.guest import GuestImage, build_guest_image, default_cache_dir


@pytest.fixture(scope="session")
def guest_image() -> GuestImage:
    # The shared cache: the first run downloads ~32 MB of packages, later runs reuse them.
    return build_guest_image(default_cache_dir())
