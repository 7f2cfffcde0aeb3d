"""The console's web application (Starlette): its routes and how it is put together.

Every page is rendered on the server (Jinja2, autoescaped: a tenant name, SKU or error text
with HTML in it shows as text). Sessions are Starlette's signed cookie (itsdangerous), HttpOnly
and SameSite=Strict, Secure behind https, signed with a key derived from ILUO_SYNC_SECRET_KEY;
each holds a CSRF token that every form posts back. A session ends at logout, after
ILUO_SYNC_CONSOLE_SESSION_HOURS, or when its user's password changes.

Access: an operator sees everything; a tenant user sees only their tenant (another tenant's
id answers 404, as if it did not exist) and no operator page (403). The checks are
app.console.context's, the pages app.console.pages'.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dramatiq.broker import Broker
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from app.console.context import (
    COOKIE,
    HERE,
    OPERATOR,
    PUBLIC,
    USER,
    Console,
    Handler,
    endpoint,
    error_page,
)
from app.console.pages import (
    add_tenant,
    confirm_page,
    confirmed,
    history,
    home,
    language,
    login,
    login_page,
    logout,
    run_now,
    run_page,
    service,
    tenant_live,
    tenant_page,
    tenants,
)
from shared.control.registry import Registry
from shared.crypto import derived_key, load_key
from shared.errors import UserError


def _routes() -> list[Route | Mount]:
    def route(path: str, handler: Handler, access: str, methods: tuple[str, ...] = ("GET",)
              ) -> Route:
        return Route(path, endpoint(handler, access), methods=list(methods))

    tid = "/tenants/{tenant_id:int}"
    return [
        route("/", home, USER),
        route("/login", login_page, PUBLIC),
        route("/login", login, PUBLIC, ("POST",)),
        route("/logout", logout, USER, ("POST",)),
        route("/lang/{code}", language, PUBLIC),
        route("/service", service, OPERATOR),
        route("/tenants", tenants, USER),
        route("/tenants", add_tenant, OPERATOR, ("POST",)),
        route(tid, tenant_page, USER),
        route(tid + "/live", tenant_live, USER),
        route(tid + "/run", run_now, USER, ("POST",)),
        route(tid + "/confirm/{what}", confirm_page, USER),
        route(tid + "/confirm/{what}", confirmed, USER, ("POST",)),
        route(tid + "/history", history, USER),
        route(tid + "/runs/{run_id:int}", run_page, USER),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]


def create_app(registry: Registry, broker: Broker) -> Starlette:
    """The console over a registry (its control DB) and a broker to publish Run now on."""
    settings = registry.settings
    try:
        zone = ZoneInfo(settings.console_timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(f"unknown ILUO_SYNC_CONSOLE_TIMEZONE {settings.console_timezone!r}"
                        ) from None
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    signing = derived_key(load_key(settings.control_db, secret), "console session").hex()
    app = Starlette(
        routes=_routes(),
        middleware=[Middleware(
            SessionMiddleware, secret_key=signing, session_cookie=COOKIE,
            max_age=settings.console_session_hours * 3600, same_site="strict",
            https_only=settings.console_https)],
        exception_handlers={HTTPException: error_page},
    )
    app.state.console = Console(registry, broker, zone)
    return app
