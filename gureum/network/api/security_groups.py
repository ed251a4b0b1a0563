"""/v2.0/security-groups and /v2.0/security-group-rules (rules are never updated, as in neutron)"""

from __future__ import annotations

from starlette.routing import BaseRoute

from gureum.network.api.common import crud_routes
from gureum.network.security_group_rules import RULE
from gureum.network.security_groups import SECURITY_GROUP


def routes() -> list[BaseRoute]:
    return [*crud_routes("/v2.0/security-groups", SECURITY_GROUP, "security_groups", "sg_id"),
            *crud_routes("/v2.0/security-group-rules", RULE, "security_group_rules", "rule_id", update=False)]
