"""python -m gureum.guest build --out DIR: build (or find) the test guest in DIR."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gureum.guest.build import build_guest_image, default_cache_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gureum.guest")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the guest image, or reuse the cached one")
    build.add_argument("--out", type=Path, default=None,
                       help=f"cache directory for packages and images (default: {default_cache_dir()})")
    arguments = parser.parse_args(argv)
    image = build_guest_image(arguments.out or default_cache_dir())
    json.dump({"kernel": str(image.kernel), "initrd": str(image.initrd), "disk": str(image.disk),
               "kernel_cmdline": image.kernel_cmdline, "key": image.key,
               "kernel_package": image.kernel_package}, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
