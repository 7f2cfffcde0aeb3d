"""The console's web application (Starlette): routes, sessions, CSRF, access rules, pages.

Every page is rendered on the server (Jinja2, autoescaped: a tenant name, SKU or error text
with HTML in it shows as text). Sessions are Starlette's signed cookie (itsdangerous), HttpOnly
and SameSite=Strict, Secure behind https, signed with a key derived from ILUO_SYNC_SECRET_KEY;
each holds a CSRF token that every form posts back. A session ends at logout, after
ILUO_SYNC_CONSOLE_SESSION_HOURS, or when its user's password changes.

Access: an operator sees everything; a tenant user sees only their tenant (another tenant's
id answers 404, as if it did not exist) and no operator page (403). Handlers run in a
thread (the databases are reached synchronously), never on the event loop.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dramatiq.broker import Broker
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from app.console import actions, queries, throttle
from app.console.accounts import User, authenticate, get_user
from app.console.chart import hourly_svg
from app.console.i18n import DEFAULT, LANGUAGES, translator
from app.integrations import describe
from shared.control.health import problems, read_health
from shared.control.refresh import refresh_tenant
from shared.control.registry import Registry, Tenant, db_error_line
from shared.control.schedule import Due, now_s
from shared.control.service_state import switch
from shared.crypto import derived_key, load_key
from shared.db import join_password, parse_db_url, split_password
from shared.erp import retry_set
from shared.errors import UserError
from shared.jobs import QUEUES
from shared.operation import Operation
from shared.redact import redact
from shared.telemetry.rabbitmq_api import read_queues, split_credentials

HERE = Path(__file__).parent
COOKIE = "iluo_console"
#: Messages a redirect may leave for the next page (anything else is never shown).
FLASH_KEYS = {"added", "activated", "deactivated", "removed", "run_queued", "run_busy",
              "run_refused"}


@dataclass
class Console:
    """What every request needs: the registry, a broker to publish Run now on, settings."""

    registry: Registry
    broker: Broker
    zone: ZoneInfo
    env: Environment = field(init=False)

    def __post_init__(self) -> None:
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"),
                               autoescape=select_autoescape(default=True), trim_blocks=True,
                               lstrip_blocks=True)
        self.env.filters["local"] = self.local

    def local(self, moment: datetime | None, with_seconds: bool = False) -> str:
        """A naive-UTC time of our tables in the console's zone."""
        if moment is None:
            return "–"
        shown = moment.replace(tzinfo=UTC).astimezone(self.zone)
        return shown.strftime("%d.%m.%Y %H:%M:%S" if with_seconds else "%d.%m.%Y %H:%M")


@dataclass
class Ctx:
    """One request as a handler sees it."""

    request: Request
    console: Console
    form: Mapping[str, str]
    user: User | None
    now: datetime = field(default_factory=now_s)

    @property
    def session(self) -> dict[str, Any]:
        return self.request.session

    @property
    def lang(self) -> str:
        lang = self.session.get("lang")
        return lang if lang in LANGUAGES else DEFAULT

    @property
    def registry(self) -> Registry:
        return self.console.registry

    def flash(self, key: str, **values: str) -> None:
        self.session["flash"] = [key, values]

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        # A fragment htmx fetches must not eat the message meant for the page around it.
        flash = None if template.startswith("_") else self.session.pop("flash", None)
        t = translator(self.lang)
        kind, message = None, None
        if isinstance(flash, list) and len(flash) == 2 and flash[0] in FLASH_KEYS:
            kind, message = flash[0], t(flash[0], **flash[1])
        html = self.console.env.get_template(template).render(
            t=t, lang=self.lang, user=self.user, csrf=self.session.get("csrf", ""),
            flash=message, flash_kind=kind, path=self.request.url.path,
            zone=self.console.zone.key, now=self.now, **context,
        )
        return HTMLResponse(html, status_code=status)

    def tenant(self, tenant_id: int) -> Tenant:
        """The tenant when this user may see it; 404 otherwise (another tenant's id says
        nothing about whether it exists)."""
        assert self.user is not None
        tenant = self.registry.get_by_id(tenant_id) if self.user.sees(tenant_id) else None
        if tenant is None:
            raise HTTPException(404)
        return tenant

    def record(self, what: str, **where: Any) -> None:
        assert self.user is not None
        actions.record(self.registry, self.user, what, self.now, **where)


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


Handler = Callable[[Ctx], Response]
PUBLIC, USER, OPERATOR = "public", "user", "operator"


def _ensure_csrf(session: dict[str, Any]) -> str:
    if not isinstance(session.get("csrf"), str):
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def _current_user(console: Console, session: dict[str, Any]) -> User | None:
    user_id, epoch = session.get("uid"), session.get("epoch")
    if not isinstance(user_id, int):
        return None
    with console.registry.engine.connect() as conn:
        user = get_user(conn, user_id)
    # A password changed since this session was signed ends it.
    if user is None or epoch != user.password_changed_at.isoformat():
        session.pop("uid", None)
        return None
    return user


def endpoint(handler: Handler, access: str) -> Callable[[Request], Awaitable[Response]]:
    """A handler as a Starlette endpoint: session user, access rule, CSRF on every POST, and
    the work in a thread."""

    async def serve(request: Request) -> Response:
        console: Console = request.app.state.console
        form: dict[str, str] = {}
        if request.method == "POST":
            raw = await request.form(max_files=0, max_fields=50)
            form = {k: v for k, v in raw.items() if isinstance(v, str)}

        def work() -> Response:
            session = request.session
            token = _ensure_csrf(session)
            if request.method == "POST" and not hmac.compare_digest(
                    form.get("csrf", "").encode(), token.encode()):
                raise HTTPException(403)
            user = _current_user(console, session)
            if access != PUBLIC and user is None:
                return redirect("/login")
            if access == OPERATOR and user is not None and not user.operator:
                raise HTTPException(403)
            return handler(Ctx(request, console, form, user))

        return await run_in_threadpool(work)

    return serve


# -- logging in and out ---------------------------------------------------------------------------


def home(ctx: Ctx) -> Response:
    assert ctx.user is not None
    if ctx.user.operator:
        return redirect("/service")
    return redirect(f"/tenants/{ctx.user.tenant_id}")


def login_page(ctx: Ctx) -> Response:
    if ctx.user is not None:
        return home(ctx)
    return ctx.render("login.html")


def login(ctx: Ctx) -> Response:
    name, password = ctx.form.get("name", "").strip()[:100], ctx.form.get("password", "")
    address = ctx.request.client.host if ctx.request.client else "unknown"
    keys = throttle.keys(address, name)
    with ctx.registry.engine.begin() as conn:
        if throttle.locked(conn, keys, ctx.now):
            user, status = None, 429
        else:
            user = authenticate(conn, name, password[:1000], now=ctx.now) if name else None
            status = 200 if user else 401
            if user is None:
                throttle.record_failure(conn, keys, ctx.now)
            else:
                throttle.clear(conn, keys[1])
    if user is None:
        actions.record(ctx.registry, name or "?", f"login refused from {address}", ctx.now,
                       level="warning")
        error = "login_locked" if status == 429 else "login_failed"
        return ctx.render("login.html", status=status, error=error, name=name)
    lang = ctx.lang
    ctx.session.clear()  # a fresh session (and CSRF token) for the logged-in user
    ctx.session.update(uid=user.id, epoch=user.password_changed_at.isoformat(), lang=lang,
                       csrf=secrets.token_urlsafe(32))
    actions.record(ctx.registry, user, f"logged in from {address}", ctx.now)
    return redirect("/")


def logout(ctx: Ctx) -> Response:
    ctx.record("logged out")
    lang = ctx.lang
    ctx.session.clear()
    ctx.session["lang"] = lang
    return redirect("/login")


def language(ctx: Ctx) -> Response:
    code = ctx.request.path_params["code"]
    if code in LANGUAGES:
        ctx.session["lang"] = code
    back = ctx.request.query_params.get("next", "/")
    # Only a path of this site: never an address elsewhere (an open redirect).
    return redirect(back if back.startswith("/") and not back.startswith("//") else "/")


# -- the service ----------------------------------------------------------------------------------


def service(ctx: Ctx) -> Response:
    settings = ctx.registry.settings
    with ctx.registry.engine.connect() as conn:
        health = read_health(conn, ctx.now)
        activity = queries.console_activity(conn)
    api = settings.rabbitmq_api.get_secret_value()
    broker = read_queues(api, settings.broker_url.get_secret_value(), QUEUES) if api else None
    found = [redact(line) for line in problems(
        health, after_failures=settings.alert_after_failures, broker=broker,
        kept_after=timedelta(minutes=settings.pending_alert_minutes))]
    management = split_credentials(api)[0].removesuffix("/").removesuffix("/api") if api else None
    alerts = [(t.name, op) for t in health.tenants for op in t.operations
              if op.alerted_at is not None]
    return ctx.render("service.html", health=health, broker=broker, problems=found,
                      management=management, alerts=alerts, activity=activity)


# -- tenants --------------------------------------------------------------------------------------


def _page(ctx: Ctx, last: int = queries.MAX_PAGE) -> int:
    raw = ctx.request.query_params.get("page", "1")
    page = int(raw) if raw.isdigit() and len(raw) < 7 else 0
    if not 1 <= page <= last:
        raise HTTPException(404)
    return page


def tenants(ctx: Ctx, *, status: int = 200, **form: Any) -> Response:
    assert ctx.user is not None
    if not ctx.user.operator:
        return redirect(f"/tenants/{ctx.user.tenant_id}")
    settings = ctx.registry.settings
    page = _page(ctx, queries.MAX_TENANT_PAGE)
    with ctx.registry.engine.connect() as conn:
        health = read_health(conn, ctx.now)
        rows = queries.tenant_rows(
            conn, health, after_failures=settings.alert_after_failures,
            kept_after=timedelta(minutes=settings.pending_alert_minutes), page=page)
    return ctx.render("tenants.html", status=status, rows=rows, page=page,
                      has_next=len(rows) == queries.PAGE_SIZE, form=form)


def add_tenant(ctx: Ctx) -> Response:
    name = ctx.form.get("name", "").strip()
    url = ctx.form.get("db_url", "").strip()
    password = ctx.form.get("db_password", "")
    active, history = ctx.form.get("active") == "on", ctx.form.get("event_history") == "on"
    try:
        if not name or not url:
            raise UserError("name and URL are both needed")
        # A password typed into the URL is taken too, and never shown back.
        tenant = ctx.registry.add(name, _with_password(url, password), active=active,
                                  event_history=history)
    except UserError as exc:
        shown = _without_password(url)
        return tenants(ctx, status=400, error=redact(str(exc)), name=name, db_url=shown,
                       active=active, event_history=history)
    ctx.record(f"added tenant {tenant.name} ({_without_password(url)})", tenant_id=tenant.id)
    refresh_tenant(ctx.registry, tenant.id, now=ctx.now)  # its schedule now, not at the next tick
    ctx.flash("added")
    return redirect(f"/tenants/{tenant.id}")


def _with_password(url: str, password: str) -> str:
    parsed = parse_db_url(url)
    bare, typed = split_password(parsed)
    joined = join_password(bare, password or typed)
    return joined.render_as_string(hide_password=False)


def _without_password(url: str) -> str:
    try:
        return split_password(parse_db_url(url))[0]
    except UserError:
        return ""


def _tenant_id(ctx: Ctx) -> int:
    return int(ctx.request.path_params["tenant_id"])


def tenant_page(ctx: Ctx) -> Response:
    tenant = ctx.tenant(_tenant_id(ctx))
    return ctx.render("tenant.html", tenant=tenant, **_tenant_view(ctx, tenant))


def tenant_live(ctx: Ctx) -> Response:
    """The part of the tenant page htmx refreshes every few seconds."""
    tenant = ctx.tenant(_tenant_id(ctx))
    return ctx.render("_tenant_live.html", tenant=tenant, **_tenant_view(ctx, tenant))


def _tenant_view(ctx: Ctx, tenant: Tenant) -> dict[str, Any]:
    t = translator(ctx.lang)
    try:
        integrations = describe(ctx.registry, tenant)
        engine = ctx.registry.tenant_engine(tenant)
        hours = queries.last_day(engine, ctx.now)
        runs = queries.recent_runs(engine)
        with engine.connect() as conn:
            kept = retry_set.listing(conn, limit=100)
    except (UserError, SQLAlchemyError) as exc:
        error = str(exc) if isinstance(exc, UserError) else db_error_line(exc)
        return {"unreachable": t("db_unreachable", error=redact(error)), "integrations": [],
                "chart": None, "runs": [], "kept": [], "operations": list(Operation)}
    labels = {"title": t("chart_title")}
    return {"unreachable": None, "integrations": integrations, "runs": runs, "kept": kept,
            "chart": Markup(hourly_svg(hours, ctx.console.zone, labels)),
            "operations": list(Operation),
            "day": {"runs": sum(h.runs for h in hours), "failed": sum(h.failed for h in hours),
                    "written": sum(h.items for h in hours)}}


def run_now(ctx: Ctx) -> Response:
    assert ctx.user is not None
    tenant = ctx.tenant(_tenant_id(ctx))
    try:
        integration_id = int(ctx.form.get("integration", ""))
        operation = Operation.parse(ctx.form.get("operation", ""))
    except ValueError:
        raise HTTPException(400) from None
    t = translator(ctx.lang)
    if not tenant.is_active:
        ctx.flash("run_refused", reason=t("tenant_off"))
        return redirect(f"/tenants/{tenant.id}")
    found = actions.run_now(ctx.registry, ctx.console.broker, ctx.user, tenant, integration_id,
                            operation, ctx.now)
    if found is Due.DUE:
        ctx.flash("run_queued")
    elif found is Due.BUSY:
        ctx.flash("run_busy")
    else:
        ctx.flash("run_refused", reason=_why_off(ctx, tenant, integration_id, operation))
    return redirect(f"/tenants/{tenant.id}")


def _why_off(ctx: Ctx, tenant: Tenant, integration_id: int, operation: Operation) -> str:
    """The configuration error that blocks the operation, else "not automatic"."""
    try:
        for item in describe(ctx.registry, tenant):
            if item["id"] == integration_id:
                for op in item["operations"]:
                    if op["operation"] == operation.cli_name and op["blocked"]:
                        return str(op["blocked"])
    except UserError:
        pass
    return translator(ctx.lang)("not_automatic")


SWITCHES = {"off": (False, "deactivate", "deactivated"), "on": (True, "activate", "activated")}


def confirm_page(ctx: Ctx) -> Response:
    """The confirmation before the emergency switch or a removal (no script needed)."""
    tenant = ctx.tenant(_tenant_id(ctx))
    what = ctx.request.path_params["what"]
    if what not in ("off", "on", "remove"):
        raise HTTPException(404)
    if what == "remove":
        assert ctx.user is not None
        if not ctx.user.operator:
            raise HTTPException(403)
        question, button = "confirm_remove", "remove"
    else:
        question, button = f"confirm_{SWITCHES[what][1]}", SWITCHES[what][1]
    return ctx.render("confirm.html", tenant=tenant, what=what, question=question, button=button)


def confirmed(ctx: Ctx) -> Response:
    assert ctx.user is not None
    tenant = ctx.tenant(_tenant_id(ctx))
    what = ctx.request.path_params["what"]
    if what == "remove":
        if not ctx.user.operator:
            raise HTTPException(403)
        ctx.registry.remove(tenant.name)
        ctx.record(f"removed tenant {tenant.name}", tenant_id=tenant.id)
        ctx.flash("removed")
        return redirect("/tenants")
    if what not in SWITCHES:
        raise HTTPException(404)
    active, verb, done = SWITCHES[what]
    switch(ctx.registry, tenant.name, active, ctx.now)
    if active:  # its rows switched back on now, so Run now works at once
        refresh_tenant(ctx.registry, tenant.id, now=ctx.now)
    ctx.record(f"{verb}d tenant {tenant.name}", tenant_id=tenant.id)
    ctx.flash(done)
    return redirect(f"/tenants/{tenant.id}")


# -- history --------------------------------------------------------------------------------------


def _filter(ctx: Ctx) -> queries.HistoryFilter:
    params = ctx.request.query_params

    def number(name: str) -> int | None:
        raw = params.get(name, "")
        return int(raw) if raw.isdigit() and len(raw) < 10 else None

    def moment(name: str) -> datetime | None:
        raw = params.get(name, "")
        try:
            local = datetime.strptime(raw, "%Y-%m-%dT%H:%M") if raw else None
        except ValueError:
            return None
        if local is None:
            return None
        return local.replace(tzinfo=ctx.console.zone).astimezone(UTC).replace(tzinfo=None)

    operation = params.get("operation", "")
    try:
        op = Operation.parse(operation).value if operation else None
    except ValueError:
        op = None
    level = params.get("level", "")
    return queries.HistoryFilter(
        integration=number("integration"), operation=op,
        level=level if level in queries.LEVELS else None,
        since=moment("since"), until=moment("until"), page=_page(ctx))


def history(ctx: Ctx) -> Response:
    tenant = ctx.tenant(_tenant_id(ctx))
    flt = _filter(ctx)
    try:
        found = queries.history(ctx.registry.tenant_engine(tenant), flt)
    except (UserError, SQLAlchemyError) as exc:
        error = str(exc) if isinstance(exc, UserError) else db_error_line(exc)
        t = translator(ctx.lang)
        return ctx.render("history.html", tenant=tenant, flt=flt, found=None,
                          unreachable=t("db_unreachable", error=redact(error)),
                          operations=list(Operation), levels=queries.LEVELS, query="")
    query = urlencode(flt.query())
    return ctx.render("history.html", tenant=tenant, flt=flt, found=found, unreachable=None,
                      operations=list(Operation), levels=queries.LEVELS, query=query)


def run_page(ctx: Ctx) -> Response:
    tenant = ctx.tenant(_tenant_id(ctx))
    run, events = queries.run_with_events(ctx.registry.tenant_engine(tenant),
                                          int(ctx.request.path_params["run_id"]))
    if run is None:
        raise HTTPException(404)
    return ctx.render("run.html", tenant=tenant, run=run, events=events)


# -- the application ------------------------------------------------------------------------------


async def _error(request: Request, exc: Exception) -> Response:
    """403 / 404 / 400 / 429 as a page in the visitor's language, nothing else said."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    lang = request.session.get("lang") if "session" in request.scope else None
    t = translator(lang if lang in LANGUAGES else DEFAULT)
    key = {403: "forbidden", 400: "bad_request"}.get(status, "not_found")
    console: Console = request.app.state.console
    html = console.env.get_template("error.html").render(
        t=t, lang=lang or DEFAULT, user=None, message=t(key), status=status, path="/")
    return HTMLResponse(html, status_code=status)


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
        exception_handlers={HTTPException: _error},
    )
    app.state.console = Console(registry, broker, zone)
    return app
