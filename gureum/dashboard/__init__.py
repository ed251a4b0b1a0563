"""The dashboard: server-rendered pages at /dashboard, a client of gureum's own APIs."""

from gureum.dashboard.routes import dashboard_app

__all__ = ["dashboard_app"]
