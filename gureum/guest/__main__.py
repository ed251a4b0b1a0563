"""python -m gureum.guest build --out DIR: build (or find) the test guest in DIR."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gureum.guest.build import build_guest_image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gureum.guest")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the guest image, or reuse the cached one")
    build.add_argument("--out", type=Path, required=True, help="cache directory for packages and images")
    arguments = parser.parse_args(argv)
    image = build_guest_image(arguments.out)
    json.dump({"kernel": str(image.kernel), "initrd": str(image.initrd), "disk": str(image.disk),
               "kernel_cmdline": image.kernel_cmdline, "key": image.key,
               "kernel_package": image.kernel_package}, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
