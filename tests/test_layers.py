"""The service contract's layering, checked on the source (an ast walk, no imports).

- HTTP modules (`*/api/*.py`, `*/api.py`, `*_api.py`) parse, call a service and
  render: they import no SQLAlchemy and no models, and enforce no policy.
- No package imports another package's `.models`, nor anyone's `_private` names.
- `gureum/db/` imports no service.

`KNOWN` lists what the landed code still does against these rules; it may only
shrink. A new violation fails; so does an entry that no longer happens (delete it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "gureum"
SERVICES = ("identity", "image", "compute", "network", "volume", "objectstore", "dashboard", "hosts")
# Shared, service-neutral packages any service may use.
NEUTRAL = ("db", "http", "policy", "config", "testing", "services", "openapi", "guest", "agent")

KNOWN: set[str] = {
    'gureum.compute.addresses: imports gureum.network.models',
    'gureum.compute.api.availability_zones: api enforces policy',
    'gureum.compute.api.availability_zones: api imports sqlalchemy.orm',
    'gureum.compute.api.flavors: api enforces policy',
    'gureum.compute.api.flavors: api imports gureum.compute.models',
    'gureum.compute.api.flavors: api imports gureum.identity.models',
    'gureum.compute.api.flavors: api imports sqlalchemy',
    'gureum.compute.api.flavors: imports gureum.identity.models',
    'gureum.compute.api.hypervisors: api enforces policy',
    'gureum.compute.api.hypervisors: api imports gureum.compute.models',
    'gureum.compute.api.hypervisors: api imports sqlalchemy',
    'gureum.compute.api.hypervisors: api imports sqlalchemy.orm',
    'gureum.compute.api.keypairs: api enforces policy',
    'gureum.compute.api.keypairs: api imports gureum.compute.models',
    'gureum.compute.api.keypairs: api imports sqlalchemy',
    'gureum.compute.api.keypairs: api imports sqlalchemy.exc',
    'gureum.compute.api.limits: api enforces policy',
    'gureum.compute.api.quotas: api enforces policy',
    'gureum.compute.api.server_extras: api enforces policy',
    'gureum.compute.api.server_extras: api imports gureum.compute.models',
    'gureum.compute.api.server_extras: api imports gureum.network.models',
    'gureum.compute.api.server_extras: api imports sqlalchemy',
    'gureum.compute.api.server_extras: imports gureum.network.models',
    'gureum.compute.api.server_groups: api enforces policy',
    'gureum.compute.api.server_groups: api imports gureum.compute.models',
    'gureum.compute.api.server_groups: api imports sqlalchemy',
    'gureum.compute.api.server_groups: api imports sqlalchemy.orm',
    'gureum.compute.api.server_views: api imports gureum.compute.models',
    'gureum.compute.api.servers: api imports gureum.compute.models',
    'gureum.compute.api.services: api enforces policy',
    'gureum.compute.api.services: api imports gureum.compute.models',
    'gureum.compute.api.services: api imports sqlalchemy',
    'gureum.compute.api.services: api imports sqlalchemy.orm',
    'gureum.db.revision: db imports gureum.identity.models',
    'gureum.db.revision: imports gureum.identity.models',
    'gureum.guest.register: imports gureum.identity.models',
    'gureum.identity.api.app_credentials: api enforces policy',
    'gureum.identity.api.app_credentials: api imports gureum.identity.models',
    'gureum.identity.api.app_credentials: api imports sqlalchemy',
    'gureum.identity.api.app_credentials: api imports sqlalchemy.exc',
    'gureum.identity.api.app_credentials: api imports sqlalchemy.orm',
    'gureum.identity.api.assignments: api enforces policy',
    'gureum.identity.api.assignments: api imports gureum.identity.models',
    'gureum.identity.api.assignments: api imports sqlalchemy',
    'gureum.identity.api.assignments: api imports sqlalchemy.orm',
    'gureum.identity.api.auth: api enforces policy',
    'gureum.identity.api.auth: api imports gureum.identity.models',
    'gureum.identity.api.auth: api imports sqlalchemy',
    'gureum.identity.api.catalog: api enforces policy',
    'gureum.identity.api.catalog: api imports gureum.identity.models',
    'gureum.identity.api.catalog: api imports sqlalchemy',
    'gureum.identity.api.common: api imports sqlalchemy.orm',
    'gureum.identity.api.credentials: api enforces policy',
    'gureum.identity.api.credentials: api imports gureum.identity.models',
    'gureum.identity.api.credentials: api imports sqlalchemy',
    'gureum.identity.api.credentials: api imports sqlalchemy.exc',
    'gureum.identity.api.credentials: api imports sqlalchemy.orm',
    'gureum.identity.api.domains: api enforces policy',
    'gureum.identity.api.domains: api imports gureum.identity.models',
    'gureum.identity.api.domains: api imports sqlalchemy',
    'gureum.identity.api.domains: api imports sqlalchemy.exc',
    'gureum.identity.api.groups: api enforces policy',
    'gureum.identity.api.groups: api imports gureum.identity.models',
    'gureum.identity.api.groups: api imports sqlalchemy',
    'gureum.identity.api.groups: api imports sqlalchemy.exc',
    'gureum.identity.api.groups: api imports sqlalchemy.orm',
    'gureum.identity.api.limits: api enforces policy',
    'gureum.identity.api.limits: api imports gureum.identity.models',
    'gureum.identity.api.limits: api imports sqlalchemy',
    'gureum.identity.api.limits: api imports sqlalchemy.exc',
    'gureum.identity.api.limits: api imports sqlalchemy.orm',
    'gureum.identity.api.projects: api enforces policy',
    'gureum.identity.api.projects: api imports gureum.identity.models',
    'gureum.identity.api.projects: api imports sqlalchemy',
    'gureum.identity.api.projects: api imports sqlalchemy.exc',
    'gureum.identity.api.roles: api enforces policy',
    'gureum.identity.api.roles: api imports gureum.identity.models',
    'gureum.identity.api.roles: api imports sqlalchemy',
    'gureum.identity.api.roles: api imports sqlalchemy.exc',
    'gureum.identity.api.users: api enforces policy',
    'gureum.identity.api.users: api imports gureum.identity.models',
    'gureum.identity.api.users: api imports sqlalchemy',
    'gureum.identity.api.users: api imports sqlalchemy.exc',
    'gureum.network.agents: imports gureum.compute.models',
    'gureum.network.desired: imports gureum.compute.models',
}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_api_module(name: str) -> bool:
    parts = name.split(".")
    return "api" in parts[2:] or parts[-1] == "api" or parts[-1].endswith("_api")


def imports_of(tree: ast.AST, name: str, is_package: bool) -> list[tuple[str, list[str]]]:
    """(module, names) for every import; relative imports resolved against `name`."""
    found: list[tuple[str, list[str]]] = []
    package = name.split(".") if is_package else name.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            found.append((module, [alias.name for alias in node.names]))
    return found


def enforce_calls(tree: ast.AST) -> int:
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("enforce", "authorize"):
                count += 1
    return count


def violations_of(path: Path, name: str | None = None) -> set[str]:
    name = name or module_name(path)
    tree = ast.parse(path.read_text(), filename=str(path))
    parts = name.split(".")
    owner = parts[1] if len(parts) > 1 else ""
    found: set[str] = set()
    api = is_api_module(name)
    # Relative imports: package of this module.
    for module, names in imports_of(tree, name, path.name == "__init__.py"):
        mparts = module.split(".")
        if api and (mparts[0] == "sqlalchemy" or mparts[-1] == "models"):
            found.add(f"{name}: api imports {module}")
        if mparts[0] == "gureum" and len(mparts) > 2 and mparts[-1] == "models" and mparts[1] != owner \
                and mparts[1] != "db":
            found.add(f"{name}: imports {module}")
        if mparts[0] == "gureum":
            for imported in names:
                if imported.startswith("_") and not imported.startswith("__"):
                    found.add(f"{name}: imports private {module}.{imported}")
        if owner == "db" and mparts[0] == "gureum" and len(mparts) > 1 and mparts[1] in SERVICES:
            found.add(f"{name}: db imports {module}")
    if api and enforce_calls(tree):
        found.add(f"{name}: api enforces policy")
    return found


def all_violations() -> set[str]:
    found: set[str] = set()
    for path in sorted(ROOT.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        found |= violations_of(path)
    return found


def test_no_new_layer_violations() -> None:
    new = sorted(all_violations() - KNOWN)
    assert not new, "layer rules broken (see this module's docstring):\n" + "\n".join(new)


def test_known_list_only_shrinks() -> None:
    gone = sorted(KNOWN - all_violations())
    assert not gone, "fixed, so delete from KNOWN:\n" + "\n".join(gone)


@pytest.mark.parametrize(
    "name, source, expected",
    [
        ("gureum.compute.api.seeded", "from sqlalchemy import select\n", "api imports sqlalchemy"),
        ("gureum.compute.api.seeded", "from gureum.compute.models import Instance\n", "api imports gureum.compute.models"),
        ("gureum.compute.seeded", "from gureum.network.models import Port\n", "imports gureum.network.models"),
        ("gureum.compute.seeded", "from gureum.compute.flavors import _check\n",
         "imports private gureum.compute.flavors._check"),
        ("gureum.compute.api.seeded", "def f(req):\n    req.cloud.policy.enforce(req.context, 'x')\n",
         "api enforces policy"),
        ("gureum.db.seeded", "from gureum.identity.models import Revision\n", "db imports gureum.identity.models"),
    ],
)
def test_seeded_violations_are_caught(tmp_path: Path, name: str, source: str, expected: str) -> None:
    seeded = tmp_path / "seeded.py"
    seeded.write_text(source)
    assert f"{name}: {expected}" in violations_of(seeded, name)
