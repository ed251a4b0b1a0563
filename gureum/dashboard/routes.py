"""The dashboard's routes, mounted at /dashboard beside the APIs."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from gureum.dashboard import auth
from gureum.dashboard.pages import (admin, api_access, console, storage, floating_ips, images, instances, keypairs, launch, networks, overview,
                                    security_groups, topology)
from gureum.dashboard.session import PREFIX

STATIC = Path(__file__).parent / "static"


class CachedStatic(StaticFiles):
    """Vendored files carry their version in the name: cache them for a long time."""

    def file_response(self, *args, **kwargs) -> Response:  # type: ignore[no-untyped-def]
        response = super().file_response(*args, **kwargs)
        response.headers["cache-control"] = "public, max-age=86400"
        response.headers["x-content-type-options"] = "nosniff"
        return response


async def slash(request: Request) -> Response:
    return RedirectResponse(f"{PREFIX}{request.url.path.rstrip('/')}/", status_code=308)


def routes() -> list[BaseRoute]:
    return [
        Route("/", overview.overview, methods=["GET"]),
        Route("/login", auth.login_form, methods=["GET"]),
        Route("/login", auth.login, methods=["POST"]),
        Route("/logout", auth.logout, methods=["POST"]),
        Route("/projects/", auth.project_picker, methods=["GET"]),
        Route("/projects/", auth.switch_project, methods=["POST"]),
        Route("/instances/", instances.instances, methods=["GET"]),
        Route("/instances/events", instances.instance_events, methods=["GET"]),
        Route("/instances/action", instances.instance_action, methods=["POST"]),
        Route("/instances/{server_id}", instances.instance_detail, methods=["GET"]),
        Route("/instances/{server_id}/log", instances.console_log, methods=["GET"]),
        Route("/instances/{server_id}/log/events", instances.console_log_events, methods=["GET"]),
        Route("/instances/{server_id}/change", instances.server_change, methods=["POST"]),
        Route("/instances/{server_id}/console", console.console_page, methods=["GET"]),
        WebSocketRoute("/instances/{server_id}/console/ws", console.console_socket),
        Route("/launch", launch.launch_form, methods=["GET"]),
        Route("/launch", launch.launch, methods=["POST"]),
        Route("/launch/preview", launch.launch_preview, methods=["POST"]),
        Route("/images/", images.images, methods=["GET"]),
        Route("/images/", images.create_image, methods=["POST"]),
        Route("/images/{image_id}/file", images.upload_file, methods=["PUT"]),
        Route("/images/{image_id}/delete", images.delete_image, methods=["POST"]),
        Route("/networks/", networks.networks, methods=["GET"]),
        Route("/networks/", networks.create_network, methods=["POST"]),
        Route("/networks/{network_id}/delete", networks.delete_network, methods=["POST"]),
        Route("/routers/", networks.routers, methods=["GET"]),
        Route("/routers/", networks.create_router, methods=["POST"]),
        Route("/routers/interface", networks.router_interface, methods=["POST"]),
        Route("/routers/{router_id}/interface", networks.router_interface, methods=["POST"]),
        Route("/routers/{router_id}/delete", networks.delete_router, methods=["POST"]),
        Route("/floating-ips/", floating_ips.floating_ips, methods=["GET"]),
        Route("/floating-ips/", floating_ips.allocate, methods=["POST"]),
        Route("/floating-ips/associate", floating_ips.associate_form, methods=["GET"]),
        Route("/floating-ips/associate", floating_ips.associate, methods=["POST"]),
        Route("/floating-ips/{fip_id}/disassociate", floating_ips.disassociate, methods=["POST"]),
        Route("/floating-ips/{fip_id}/release", floating_ips.release, methods=["POST"]),
        Route("/security-groups/", security_groups.groups, methods=["GET"]),
        Route("/security-groups/", security_groups.create_group, methods=["POST"]),
        Route("/security-groups/{group_id}/rules", security_groups.add_rule, methods=["POST"]),
        Route("/security-groups/{group_id}/delete", security_groups.delete_group, methods=["POST"]),
        Route("/security-groups/rules/{rule_id}/delete", security_groups.delete_rule, methods=["POST"]),
        Route("/keypairs/", keypairs.keypairs, methods=["GET"]),
        Route("/keypairs/", keypairs.create_keypair, methods=["POST"]),
        Route("/keypairs/{name}/delete", keypairs.delete_keypair, methods=["POST"]),
        Route("/topology/", topology.topology, methods=["GET"]),
        Route("/api-access/", api_access.api_access, methods=["GET"]),
        Route("/api-access/clouds.yaml", api_access.clouds_yaml, methods=["GET"]),
        Route("/api-access/openrc.sh", api_access.openrc, methods=["GET"]),
        Route("/api-access/credentials", api_access.create_credential, methods=["POST"]),
        Route("/api-access/credentials/{cred_id}/delete", api_access.delete_credential, methods=["POST"]),
        Route("/admin/", admin.hosts, methods=["GET"]),
        Route("/admin/flavors/", admin.flavors, methods=["GET"]),
        Route("/admin/flavors/", admin.create_flavor, methods=["POST"]),
        Route("/admin/flavors/{flavor_id}/delete", admin.delete_flavor, methods=["POST"]),
        Route("/admin/identity/", admin.identity, methods=["GET"]),
        Route("/admin/identity/projects", admin.create_project, methods=["POST"]),
        Route("/admin/identity/users", admin.create_user, methods=["POST"]),
        Route("/admin/identity/roles", admin.grant_role, methods=["POST"]),
        Route("/admin/quotas/", admin.quotas, methods=["GET"]),
        Route("/admin/quotas/", admin.update_quotas, methods=["POST"]),
        Route("/admin/agents/", admin.agents, methods=["GET"]),
        Route("/volumes/", storage.volumes, methods=["GET"]),
        Route("/volumes/", storage.create_volume, methods=["POST"]),
        Route("/volumes/{volume_id}/delete", storage.delete_volume, methods=["POST"]),
        Route("/volumes/{volume_id}/snapshot", storage.snapshot_volume, methods=["POST"]),
        Route("/containers/", storage.containers, methods=["GET"]),
        Route("/containers/", storage.create_container, methods=["POST"]),
        Route("/containers/{name}/", storage.objects, methods=["GET"]),
        Route("/containers/{name}/delete", storage.delete_container, methods=["POST"]),
        Route("/containers/{name}/objects/{object:path}", storage.download_object, methods=["GET"]),
        Route("/containers/{name}/objects/{object:path}", storage.upload_object, methods=["PUT"]),
        Route("/containers/{name}/objects", storage.upload_object_form, methods=["POST"]),
        Mount("/static", app=CachedStatic(directory=STATIC), name="static"),
    ]


def dashboard_app() -> Starlette:
    app = Starlette(routes=routes())
    # /dashboard/instances and the like also work without their slash.
    for path in ("/instances", "/projects", "/images", "/networks", "/routers", "/floating-ips", "/security-groups",
                 "/keypairs", "/topology", "/api-access", "/admin", "/volumes", "/containers"):
        app.router.routes.append(Route(path, slash, methods=["GET"]))
    return app
