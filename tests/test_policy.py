"""The policy engine: oslo.policy's language, defaults that always apply, overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from gureum.http.context import RequestContext
from gureum.http.errors import Forbidden
from gureum.identity.policies import IDENTITY_POLICIES
from gureum.policy import Enforcer, PolicySyntaxError, parse_rule


def ctx(roles: tuple[str, ...] = (), project_id: str | None = "p1", user_id: str = "u1",
        system: str | None = None) -> RequestContext:
    return RequestContext(user_id=user_id, user_name="n", user_domain_id="default", user_domain_name="Default",
                          roles=roles, project_id=project_id, project_domain_id="default" if project_id else None,
                          system_scope=system)


def enforcer(tmp_path: Path, override: str | None = None) -> Enforcer:
    path = tmp_path / "policy.yaml"
    if override is not None:
        path.write_text(override)
    e = Enforcer(path)
    e.register_defaults(IDENTITY_POLICIES)
    e.load_overrides()
    return e


@pytest.mark.parametrize("rule, creds_roles, target, expected", [
    ("role:admin", ("admin",), {}, True),
    ("role:admin", ("member",), {}, False),
    ("role:admin or role:member", ("member",), {}, True),
    ("(role:reader and project_id:%(project_id)s) or role:admin", ("reader",), {"project_id": "p1"}, True),
    ("(role:reader and project_id:%(project_id)s) or role:admin", ("reader",), {"project_id": "p2"}, False),
    ("not role:admin", ("member",), {}, True),
    ("user_id:%(target.user.id)s", (), {"target.user.id": "u1"}, True),
    ("user_id:%(target.user.id)s", (), {"target": {"user": {"id": "u1"}}}, True),
    ("", (), {}, True),
    ("@", (), {}, True),
    ("!", ("admin",), {}, False),
])
def test_rule_language(tmp_path: Path, rule: str, creds_roles: tuple[str, ...], target: dict, expected: bool) -> None:
    e = Enforcer(None)
    e.register_defaults({"x": rule})
    assert e.authorize(ctx(creds_roles), "x", target) is expected


def test_syntax_errors_are_named() -> None:
    for bad in ("role:admin or", "(role:admin", "role:admin )", "and role:x", "nocolon"):
        with pytest.raises(PolicySyntaxError):
            parse_rule(bad)


def test_empty_policy_file_means_defaults(tmp_path: Path) -> None:
    """The seed: an empty policy.yaml locked the admin out of create_registered_limits."""
    e = enforcer(tmp_path, "")
    e.enforce(ctx(("admin", "member", "reader")), "identity:create_project")
    with pytest.raises(Forbidden, match="identity:create_project"):
        e.enforce(ctx(("member", "reader")), "identity:create_project")


def test_override_replaces_only_its_rule(tmp_path: Path) -> None:
    e = enforcer(tmp_path, 'identity:create_project: "role:member"\n')
    e.enforce(ctx(("member",)), "identity:create_project")
    with pytest.raises(Forbidden):
        e.enforce(ctx(("member",)), "identity:create_user")


def test_override_with_bad_syntax_is_refused_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(PolicySyntaxError, match="identity:create_project"):
        enforcer(tmp_path, 'identity:create_project: "role:admin or"\n')


def test_every_default_parses_and_unknown_actions_are_bugs(tmp_path: Path) -> None:
    e = enforcer(tmp_path)
    for name, rule in IDENTITY_POLICIES.items():
        parse_rule(rule)
    with pytest.raises(KeyError):
        e.authorize(ctx(("admin",)), "identity:no_such_action")


def test_system_reader_reads_but_does_not_write(tmp_path: Path) -> None:
    e = enforcer(tmp_path)
    reader = ctx(("reader",), project_id=None, system="all")
    e.enforce(reader, "identity:list_users")
    with pytest.raises(Forbidden):
        e.enforce(reader, "identity:create_user")
