"""Nova's os-security-groups and os-security-group-rules: a proxy onto the network service.

Nova has kept these APIs (to microversion 2.35) as a thin translation onto Neutron's
security groups; so does gureum, through the network service's public methods in
one transaction each. Shapes and errors are Nova's: a group with its ingress rules,
a rule with parent_group_id, ip_protocol, from_port/to_port and ip_range or group.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from gureum.http.context import RequestContext
from gureum.http.errors import ApiError, BadRequest, Conflict, NotFound
from gureum.image.service import is_uuid
from gureum.network.listing import ListQuery

if TYPE_CHECKING:
    from gureum.cloud import Cloud

POLICY = "os_compute_api:os-security-groups:"


def nova_rule(rule: dict[str, Any], groups: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A neutron ingress rule in Nova's old security group shape; `groups`: id -> name and tenant_id."""
    from_port, to_port = rule["port_range_min"], rule["port_range_max"]
    protocol = rule["protocol"]
    if protocol and from_port is None and to_port is None:
        # Nova shows "all ports" of a protocol as its full range.
        from_port, to_port = (1, 65535) if protocol.upper() in ("TCP", "UDP") else (-1, -1)
    remote = rule["remote_group_id"]
    group = groups.get(remote) if remote else None
    return {"id": rule["id"], "parent_group_id": rule["security_group_id"], "ip_protocol": protocol,
            "from_port": from_port, "to_port": to_port,
            "group": {"name": group["name"], "tenant_id": group["tenant_id"]} if group else {},
            "ip_range": {} if remote else {"cidr": rule["remote_ip_prefix"] or "0.0.0.0/0"}}


def nova_group(view: dict[str, Any], known: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A neutron group view in Nova's shape, with its ingress rules."""
    return {"id": view["id"], "name": view["name"], "description": view["description"],
            "tenant_id": view["project_id"],
            "rules": [nova_rule(r, known) for r in view["security_group_rules"] if r["direction"] == "ingress"
                      and (not r["remote_group_id"] or r["remote_group_id"] in known)]}


def _property(value: Any, name: str) -> str:
    """Nova's validate_property: a string of 1 to 255 characters, not only blanks (kept as given)."""
    if not isinstance(value, str):
        raise BadRequest(f"Security group {name} is not a string or unicode")
    if not value.strip():
        raise BadRequest(f"Security group {name} should not be empty.")
    if len(value) > 255:
        raise BadRequest(f"Security group {name} should not be greater than 255 characters.")
    return value


def _port(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"{name.capitalize()} must be integer") from exc


class SecurityGroupProxy:
    """The os-security-groups methods of ComputeService."""

    cloud: "Cloud"

    def _group(self, ctx: RequestContext, group_id: str) -> dict[str, Any]:
        """The neutron view of a group the caller may see; Nova's 404 otherwise."""
        try:
            return self.cloud.network.show(ctx, "security_group", group_id)
        except NotFound as exc:
            raise NotFound(f"Security group {group_id} not found.") from exc

    def _nova_views(self, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
        known = {v["id"]: {"name": v["name"], "tenant_id": v["project_id"]} for v in views}
        for remote in {r["remote_group_id"] for v in views for r in v["security_group_rules"]
                       if r["remote_group_id"] and r["remote_group_id"] not in known}:
            try:
                found = self.cloud.network.show(_admin_like(), "security_group", remote)
            except NotFound:
                continue
            known[remote] = {"name": found["name"], "tenant_id": found["project_id"]}
        return [nova_group(v, known) for v in views]

    def list_nova_security_groups(self, ctx: RequestContext, all_tenants: bool = False) -> list[dict[str, Any]]:
        self.cloud.policy.enforce(ctx, POLICY + "get", {"project_id": ctx.project_id})
        with self.cloud.db.session():  # the project's default group is made on first use
            views, _page = self.cloud.network.list(ctx, "security_group", ListQuery())
            if not (all_tenants and ctx.is_admin):
                views = [v for v in views if v["project_id"] == ctx.project_id]
            groups = self._nova_views(views)
        return sorted(groups, key=lambda g: (g["tenant_id"], g["name"]))

    def show_nova_security_group(self, ctx: RequestContext, group_id: str) -> dict[str, Any]:
        self.cloud.policy.enforce(ctx, POLICY + "show", {"project_id": ctx.project_id})
        with self.cloud.db.read():
            return self._nova_views([self._group(ctx, group_id)])[0]

    def create_nova_security_group(self, ctx: RequestContext, name: Any, description: Any) -> dict[str, Any]:
        self.cloud.policy.enforce(ctx, POLICY + "create", {"project_id": ctx.project_id})
        attrs = {"name": _property(name, "name"), "description": _property(description, "description")}
        with self.cloud.db.session():
            view = _translated(lambda: self.cloud.network.create(ctx, "security_group", attrs))
            return self._nova_views([view])[0]

    def update_nova_security_group(self, ctx: RequestContext, group_id: str, name: Any,
                                   description: Any) -> dict[str, Any]:
        self.cloud.policy.enforce(ctx, POLICY + "update", {"project_id": ctx.project_id})
        attrs = {"name": _property(name, "name"), "description": _property(description, "description")}
        with self.cloud.db.session():
            self._group(ctx, group_id)
            view = _translated(lambda: self.cloud.network.update(ctx, "security_group", group_id, attrs))
            return self._nova_views([view])[0]

    def delete_nova_security_group(self, ctx: RequestContext, group_id: str) -> None:
        self.cloud.policy.enforce(ctx, POLICY + "delete", {"project_id": ctx.project_id})
        with self.cloud.db.session():
            self._group(ctx, group_id)
            _translated(lambda: self.cloud.network.delete(ctx, "security_group", group_id))

    def create_nova_security_group_rule(self, ctx: RequestContext, rule: dict[str, Any]) -> dict[str, Any]:
        """Nova's rule create: an ingress rule from a CIDR (0.0.0.0/0 by default) or from a group."""
        self.cloud.policy.enforce(ctx, POLICY + "rule:create", {"project_id": ctx.project_id})
        parent = rule.get("parent_group_id")
        if parent in (None, "") or not is_uuid(str(parent)):
            raise BadRequest("Security group id should be uuid")
        attrs = self._rule_attrs(rule)
        with self.cloud.db.session():
            self._group(ctx, str(parent))
            known: dict[str, dict[str, Any]] = {}
            if attrs.get("remote_group_id"):
                remote = self._group(ctx, attrs["remote_group_id"])
                known[remote["id"]] = {"name": remote["name"], "tenant_id": remote["project_id"]}
            created = _translated(lambda: self.cloud.network.create(
                ctx, "security_group_rule", {**attrs, "security_group_id": str(parent), "direction": "ingress"}))
            return nova_rule(created, known)

    @staticmethod
    def _rule_attrs(rule: dict[str, Any]) -> dict[str, Any]:
        protocol = rule.get("ip_protocol")
        from_port, to_port = rule.get("from_port"), rule.get("to_port")
        if protocol is None:
            raise BadRequest("Invalid IP protocol None.")
        text = str(protocol).lower()
        if text not in ("tcp", "udp", "icmp") and not (text.isdigit() and 0 <= int(text) <= 255):
            raise BadRequest(f"Invalid IP protocol {protocol}.")
        attrs: dict[str, Any] = {"protocol": text}
        if from_port is None or to_port is None:
            raise BadRequest("Not enough parameters to build a valid rule.")
        low, high = _port(from_port, "from_port"), _port(to_port, "to_port")
        if text in ("tcp", "udp"):
            if low > high:
                raise BadRequest("Invalid port range %s:%s. Former value cannot be greater than the later" %
                                 (low, high))
            if not (1 <= low <= 65535 and 1 <= high <= 65535):
                raise BadRequest(f"Invalid port range {low}:{high}. Valid TCP ports should be between 1-65535")
            attrs["port_range_min"], attrs["port_range_max"] = low, high
        elif text == "icmp":
            if not (-1 <= low <= 255 and -1 <= high <= 255):
                raise BadRequest(f"Invalid port range {low}:{high}. For ICMP, the type:code must be valid")
            if low != -1:
                attrs["port_range_min"] = low
                if high != -1:
                    attrs["port_range_max"] = high
        if rule.get("group_id"):
            attrs["remote_group_id"] = str(rule["group_id"])
        else:
            cidr = rule.get("cidr") or "0.0.0.0/0"
            try:
                network = ipaddress.ip_network(str(cidr), strict=False)
            except ValueError as exc:
                raise BadRequest(f"Invalid cidr {cidr}.") from exc
            attrs["remote_ip_prefix"] = str(network)
            attrs["ethertype"] = f"IPv{network.version}"
        return attrs

    def delete_nova_security_group_rule(self, ctx: RequestContext, rule_id: str) -> None:
        self.cloud.policy.enforce(ctx, POLICY + "rule:delete", {"project_id": ctx.project_id})
        try:
            self.cloud.network.delete(ctx, "security_group_rule", rule_id)
        except NotFound as exc:
            raise NotFound(f"Security group rule {rule_id} could not be found.") from exc


def _translated(call: Any) -> Any:
    """Neutron's refusals as Nova answers them: a conflict (default group, in use, duplicate) is a 400."""
    try:
        return call()
    except NotFound as exc:
        raise NotFound(exc.message) from exc
    except Conflict as exc:
        raise BadRequest(exc.message) from exc
    except ApiError as exc:
        if exc.status == 403:
            raise
        if 400 <= exc.status < 500:
            raise BadRequest(exc.message) from exc
        raise


def _admin_like() -> RequestContext:
    """Remote groups of a rule are named in Nova's view even when they belong to another project."""
    return RequestContext(user_id="gureum-compute", user_name="gureum-compute", user_domain_id="default",
                          user_domain_name="Default", roles=("admin",), project_id=None)
