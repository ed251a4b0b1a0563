"""The dashboard's routes, mounted at /dashboard beside the APIs."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gureum.dashboard import auth
from gureum.dashboard.pages import instances, launch, overview
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
        Route("/instances/{server_id}/change", instances.server_change, methods=["POST"]),
        Route("/launch", launch.launch_form, methods=["GET"]),
        Route("/launch", launch.launch, methods=["POST"]),
        Route("/launch/preview", launch.launch_preview, methods=["POST"]),
        Mount("/static", app=CachedStatic(directory=STATIC), name="static"),
    ]


def dashboard_app() -> Starlette:
    app = Starlette(routes=routes())
    # /dashboard/instances and the like also work without their slash.
    for path in ("/instances", "/projects"):
        app.router.routes.append(Route(path, slash, methods=["GET"]))
    return app
