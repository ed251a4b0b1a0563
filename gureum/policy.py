"""Policy: oslo.policy's rule language, complete defaults, operator overrides.

Defaults always apply; a YAML file only overrides the rules it names. An empty
or missing file is the defaults (the seed's empty policy.yaml locked the admin
out of `identity:create_registered_limits`; here that cannot happen).

Services enforce policy, never HTTP handlers (the service contract): a method
whose target is known from its arguments declares it with `@enforces(...)`; a
method whose target is a row it loads calls `self.cloud.policy.enforce(...)`
on that row inside its own transaction.
"""

from __future__ import annotations

import logging
import re
import functools
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from gureum.http.context import RequestContext
from gureum.http.errors import Forbidden

log = logging.getLogger(__name__)

Check = Callable[[Mapping[str, Any], dict[str, Any], "Enforcer"], bool]


class PolicySyntaxError(ValueError):
    pass


def _tokenize(rule: str) -> list[str]:
    """Split on white space, then peel parentheses off words, as oslo.policy does.

    Substitutions like `%(target.id)s` hold parentheses of their own; they end in
    's', so only trailing ')' beyond them are grouping.
    """
    tokens: list[str] = []
    for word in rule.split():
        clean = word.lstrip("(")
        tokens.extend("(" * (len(word) - len(clean)))
        trimmed = clean.rstrip(")")
        if trimmed:
            tokens.append(trimmed)
        tokens.extend(")" * (len(clean) - len(trimmed)))
    return tokens


def _lookup(data: Mapping[str, Any], key: str) -> Any:
    """Flat key first (keystone passes 'target.user.id' flat), then dotted path."""
    if key in data:
        return data[key]
    value: Any = data
    for part in key.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return None
    return value


_SUBST_RE = re.compile(r"%\(([^)]+)\)s")


def _generic_check(kind: str, match: str) -> Check:
    def check(target: Mapping[str, Any], creds: dict[str, Any], _e: "Enforcer") -> bool:
        m = _SUBST_RE.fullmatch(match)
        if m:
            expected = _lookup(target, m.group(1))
            if expected is None:
                return False
        else:
            expected = match
        actual = _lookup(creds, kind)
        if actual is None:
            return False
        if isinstance(actual, bool) or isinstance(expected, bool):
            return str(actual).lower() in ("true", "1") and str(expected).lower() in ("true", "1") or (
                str(actual).lower() in ("false", "0") and str(expected).lower() in ("false", "0")
            )
        return str(actual) == str(expected)

    return check


def _role_check(role: str) -> Check:
    def check(target: Mapping[str, Any], creds: dict[str, Any], _e: "Enforcer") -> bool:
        m = _SUBST_RE.fullmatch(role)
        wanted = str(_lookup(target, m.group(1))) if m else role
        return wanted.lower() in creds.get("roles", [])

    return check


def _rule_check(name: str) -> Check:
    def check(target: Mapping[str, Any], creds: dict[str, Any], enforcer: "Enforcer") -> bool:
        return enforcer.check_rule(name, target, creds)

    return check


def _atom(token: str) -> Check:
    if token == "@":
        return lambda *_: True
    if token == "!":
        return lambda *_: False
    if ":" not in token:
        raise PolicySyntaxError(f"not a check: {token!r}")
    kind, match = token.split(":", 1)
    if kind == "role":
        return _role_check(match)
    if kind == "rule":
        return _rule_check(match)
    return _generic_check(kind, match)


class _Parser:
    """Recursive descent: or-expr := and-expr ('or' and-expr)*; not binds tightest."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0

    def parse(self) -> Check:
        if not self.tokens:
            return lambda *_: True
        check = self._or()
        if self.pos != len(self.tokens):
            raise PolicySyntaxError(f"unexpected {self.tokens[self.pos]!r}")
        return check

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _or(self) -> Check:
        parts = [self._and()]
        while self._peek() == "or":
            self.pos += 1
            parts.append(self._and())
        if len(parts) == 1:
            return parts[0]
        return lambda t, c, e: any(p(t, c, e) for p in parts)

    def _and(self) -> Check:
        parts = [self._not()]
        while self._peek() == "and":
            self.pos += 1
            parts.append(self._not())
        if len(parts) == 1:
            return parts[0]
        return lambda t, c, e: all(p(t, c, e) for p in parts)

    def _not(self) -> Check:
        if self._peek() == "not":
            self.pos += 1
            inner = self._not()
            return lambda t, c, e: not inner(t, c, e)
        return self._primary()

    def _primary(self) -> Check:
        token = self._peek()
        if token is None:
            raise PolicySyntaxError("rule ends too early")
        self.pos += 1
        if token == "(":
            inner = self._or()
            if self._peek() != ")":
                raise PolicySyntaxError("missing ')'")
            self.pos += 1
            return inner
        if token in ("and", "or", ")"):
            raise PolicySyntaxError(f"unexpected {token!r}")
        return _atom(token)


def parse_rule(rule: str) -> Check:
    return _Parser(_tokenize(rule)).parse()


class Enforcer:
    """Holds every service's default rules plus the operator's overrides."""

    RELOAD_CHECK_SECONDS = 2.0

    def __init__(self, override_file: Path | None = None) -> None:
        self.defaults: dict[str, str] = {}
        self.override_file = override_file
        self._overrides: dict[str, str] = {}
        self._compiled: dict[str, Check] = {}
        self._mtime: float | None = None
        self._checked_at = 0.0
        self._lock = threading.Lock()

    def register_defaults(self, rules: Mapping[str, str]) -> None:
        for name, rule in rules.items():
            parse_rule(rule)  # a broken default is a bug: fail at start-up
            self.defaults[name] = rule
        self._compiled.clear()

    def load_overrides(self) -> None:
        """Read the override file; a rule that does not parse is a start-up error naming it."""
        if self.override_file is None or not self.override_file.exists():
            self._overrides, self._mtime = {}, None
            self._compiled.clear()
            return
        text = self.override_file.read_text()
        data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise PolicySyntaxError(f"{self.override_file}: expected a mapping of rule names to rules")
        overrides: dict[str, str] = {}
        for name, rule in data.items():
            rule = "" if rule is None else str(rule)
            try:
                parse_rule(rule)
            except PolicySyntaxError as exc:
                raise PolicySyntaxError(f"{self.override_file}: rule {name!r}: {exc}") from exc
            overrides[str(name)] = rule
        self._overrides = overrides
        self._mtime = self.override_file.stat().st_mtime
        self._compiled.clear()
        if overrides:
            log.info("policy: %d rule(s) overridden from %s", len(overrides), self.override_file)

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked_at < self.RELOAD_CHECK_SECONDS or self.override_file is None:
            return
        self._checked_at = now
        try:
            mtime = self.override_file.stat().st_mtime if self.override_file.exists() else None
        except OSError:
            return
        if mtime != self._mtime:
            with self._lock:
                try:
                    self.load_overrides()
                except PolicySyntaxError as exc:
                    # Keep the rules in force rather than fall open or closed on a typo.
                    log.error("policy: not reloaded, keeping the rules in force: %s", exc)
                    self._mtime = mtime

    def rule_text(self, name: str) -> str | None:
        if name in self._overrides:
            return self._overrides[name]
        return self.defaults.get(name)

    def check_rule(self, name: str, target: Mapping[str, Any], creds: dict[str, Any]) -> bool:
        check = self._compiled.get(name)
        if check is None:
            text = self.rule_text(name)
            if text is None:
                return False
            check = parse_rule(text)
            self._compiled[name] = check
        return check(target, creds, self)

    def authorize(self, ctx: RequestContext, action: str, target: Mapping[str, Any] | None = None) -> bool:
        self._maybe_reload()
        if action not in self.defaults and action not in self._overrides:
            raise KeyError(f"policy action {action!r} has no default rule")
        return self.check_rule(action, target or {}, ctx.policy_credentials())

    def enforce(self, ctx: RequestContext, action: str, target: Mapping[str, Any] | None = None) -> None:
        if not self.authorize(ctx, action, target):
            raise Forbidden(f"You are not authorized to perform the requested action: {action}.")


TargetOf = Callable[..., Mapping[str, Any]]


def own_project(ctx: RequestContext, *_args: Any, **_kwargs: Any) -> dict[str, Any]:
    """The default target: the caller's own project (creates and lists)."""
    return {"project_id": ctx.project_id, "user_id": ctx.user_id}


def enforces(action: str, target: TargetOf = own_project) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a service method's policy action; it is checked before the method runs.

    The method is `method(self, ctx, *args, **kwargs)` on a service that holds
    `self.cloud`; `target(ctx, *args, **kwargs)` gives the policy target. The
    action is kept on the function (`policy_action`) for docs and tests.
    """

    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def enforced(self: Any, ctx: RequestContext, *args: Any, **kwargs: Any) -> Any:
            self.cloud.policy.enforce(ctx, action, target(ctx, *args, **kwargs))
            return method(self, ctx, *args, **kwargs)

        enforced.policy_action = action  # type: ignore[attr-defined]
        return enforced

    return decorate
