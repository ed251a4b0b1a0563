"""A tiny CirrOS-like guest made from Debian packages, for tests and first boots."""

from gureum.guest.build import GuestImage, build_guest_image, default_cache_dir
from gureum.guest.files import BANNER_PREFIX

__all__ = ["BANNER_PREFIX", "GuestImage", "build_guest_image", "default_cache_dir"]
