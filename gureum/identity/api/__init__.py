"""The identity app: keystone's v3 routes."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route

from gureum.http.errors import render_keystone
from gureum.http.service_app import service_app
from gureum.identity.api import assignments, auth, catalog, domains, projects, roles, users, versions


def _grant_routes() -> list[BaseRoute]:
    """Grants on projects, domains and system, for users and groups, direct or inherited."""
    routes: list[BaseRoute] = []
    for actor in ("users", "groups"):
        actor_param = "{user_id}" if actor == "users" else "{group_id}"
        for target in ("projects/{project_id}", "domains/{domain_id}", "system"):
            base = f"/v3/{target}/{actor}/{actor_param}/roles"
            routes += [
                Route(base, assignments.list_grants, methods=["GET"]),
                Route(base + "/{role_id}", assignments.create_grant, methods=["PUT"]),
                Route(base + "/{role_id}", assignments.check_grant, methods=["GET"]),
                Route(base + "/{role_id}", assignments.revoke_grant, methods=["DELETE"]),
            ]
        for target in ("projects/{project_id}", "domains/{domain_id}"):
            inherit = f"/v3/OS-INHERIT/{target}/{actor}/{actor_param}/roles"
            routes += [
                Route(inherit + "/inherited_to_projects", assignments.list_grants, methods=["GET"]),
                Route(inherit + "/{role_id}/inherited_to_projects", assignments.create_grant, methods=["PUT"]),
                Route(inherit + "/{role_id}/inherited_to_projects", assignments.check_grant, methods=["GET"]),
                Route(inherit + "/{role_id}/inherited_to_projects", assignments.revoke_grant, methods=["DELETE"]),
            ]
    return routes


def core_routes() -> list[BaseRoute]:
    return [
        Route("/", versions.versions, methods=["GET"]),
        Route("/v3", versions.v3, methods=["GET"]),
        Route("/v3/", versions.v3, methods=["GET"]),
        Route("/v3/auth/tokens", auth.issue_token, methods=["POST"]),
        # HEAD before GET: Starlette answers HEAD with the first route that allows it,
        # and every GET route allows HEAD.
        Route("/v3/auth/tokens", auth.check_token, methods=["HEAD"]),
        Route("/v3/auth/tokens", auth.validate_token, methods=["GET"]),
        Route("/v3/auth/tokens", auth.revoke_token, methods=["DELETE"]),
        Route("/v3/auth/catalog", auth.auth_catalog, methods=["GET"]),
        Route("/v3/auth/projects", auth.auth_projects, methods=["GET"]),
        Route("/v3/auth/domains", auth.auth_domains, methods=["GET"]),
        Route("/v3/auth/system", auth.auth_system, methods=["GET"]),
        Route("/v3/domains", domains.list_domains, methods=["GET"]),
        Route("/v3/domains", domains.create_domain, methods=["POST"]),
        Route("/v3/domains/{domain_id}", domains.get_domain, methods=["GET"]),
        Route("/v3/domains/{domain_id}", domains.update_domain, methods=["PATCH"]),
        Route("/v3/domains/{domain_id}", domains.delete_domain, methods=["DELETE"]),
        Route("/v3/projects", projects.list_projects, methods=["GET"]),
        Route("/v3/projects", projects.create_project, methods=["POST"]),
        Route("/v3/projects/{project_id}", projects.get_project, methods=["GET"]),
        Route("/v3/projects/{project_id}", projects.update_project, methods=["PATCH"]),
        Route("/v3/projects/{project_id}", projects.delete_project, methods=["DELETE"]),
        Route("/v3/projects/{project_id}/tags", projects.list_project_tags, methods=["GET"]),
        Route("/v3/projects/{project_id}/tags", projects.update_project_tags, methods=["PUT"]),
        Route("/v3/projects/{project_id}/tags", projects.delete_project_tags, methods=["DELETE"]),
        Route("/v3/projects/{project_id}/tags/{tag}", projects.get_project_tag, methods=["GET"]),
        Route("/v3/projects/{project_id}/tags/{tag}", projects.create_project_tag, methods=["PUT"]),
        Route("/v3/projects/{project_id}/tags/{tag}", projects.delete_project_tag, methods=["DELETE"]),
        Route("/v3/users", users.list_users, methods=["GET"]),
        Route("/v3/users", users.create_user, methods=["POST"]),
        Route("/v3/users/{user_id}", users.get_user, methods=["GET"]),
        Route("/v3/users/{user_id}", users.update_user, methods=["PATCH"]),
        Route("/v3/users/{user_id}", users.delete_user, methods=["DELETE"]),
        Route("/v3/users/{user_id}/password", users.change_password, methods=["POST"]),
        Route("/v3/users/{user_id}/projects", users.list_user_projects, methods=["GET"]),
        Route("/v3/roles", roles.list_roles, methods=["GET"]),
        Route("/v3/roles", roles.create_role, methods=["POST"]),
        Route("/v3/roles/{role_id}", roles.get_role, methods=["GET"]),
        Route("/v3/roles/{role_id}", roles.update_role, methods=["PATCH"]),
        Route("/v3/roles/{role_id}", roles.delete_role, methods=["DELETE"]),
        Route("/v3/roles/{prior_role_id}/implies", roles.list_implied_roles, methods=["GET"]),
        Route("/v3/roles/{prior_role_id}/implies/{implied_role_id}", roles.create_implied_role, methods=["PUT"]),
        Route("/v3/roles/{prior_role_id}/implies/{implied_role_id}", roles.check_implied_role, methods=["HEAD"]),
        Route("/v3/roles/{prior_role_id}/implies/{implied_role_id}", roles.get_implied_role, methods=["GET"]),
        Route("/v3/roles/{prior_role_id}/implies/{implied_role_id}", roles.delete_implied_role, methods=["DELETE"]),
        Route("/v3/role_inferences", roles.list_role_inferences, methods=["GET"]),
        Route("/v3/role_assignments", assignments.list_role_assignments, methods=["GET"]),
        Route("/v3/services", catalog.list_services, methods=["GET"]),
        Route("/v3/services", catalog.create_service, methods=["POST"]),
        Route("/v3/services/{service_id}", catalog.get_service, methods=["GET"]),
        Route("/v3/services/{service_id}", catalog.update_service, methods=["PATCH"]),
        Route("/v3/services/{service_id}", catalog.delete_service, methods=["DELETE"]),
        Route("/v3/endpoints", catalog.list_endpoints, methods=["GET"]),
        Route("/v3/endpoints", catalog.create_endpoint, methods=["POST"]),
        Route("/v3/endpoints/{endpoint_id}", catalog.get_endpoint, methods=["GET"]),
        Route("/v3/endpoints/{endpoint_id}", catalog.update_endpoint, methods=["PATCH"]),
        Route("/v3/endpoints/{endpoint_id}", catalog.delete_endpoint, methods=["DELETE"]),
        Route("/v3/regions", catalog.list_regions, methods=["GET"]),
        Route("/v3/regions", catalog.create_region, methods=["POST"]),
        Route("/v3/regions/{region_id}", catalog.get_region, methods=["GET"]),
        Route("/v3/regions/{region_id}", catalog.create_region_with_id, methods=["PUT"]),
        Route("/v3/regions/{region_id}", catalog.update_region, methods=["PATCH"]),
        Route("/v3/regions/{region_id}", catalog.delete_region, methods=["DELETE"]),
        *_grant_routes(),
    ]


# Modules that add routes (groups, application credentials, limits, ...) list them here.
EXTRA_ROUTE_MODULES: tuple[str, ...] = ("gureum.identity.api.groups", "gureum.identity.api.app_credentials", "gureum.identity.api.limits", "gureum.identity.api.credentials", "gureum.identity.api.ec2")


def identity_routes() -> list[BaseRoute]:
    import importlib  # noqa: PLC0415

    routes = core_routes()
    for name in EXTRA_ROUTE_MODULES:
        routes += importlib.import_module(name).routes()
    return routes


def identity_app() -> Starlette:
    return service_app(identity_routes(), render_keystone)
