"""The console's pages and actions, one handler each: `(ctx) -> Response` (app.console.context
runs them after the session, CSRF and access checks)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from app.console import actions, queries, throttle
from app.console.accounts import authenticate
from app.console.chart import hourly_svg
from app.console.context import Ctx, redirect
from app.console.i18n import LANGUAGES, translator
from app.integrations import describe
from shared.control.health import problems, read_health
from shared.control.refresh import refresh_tenant
from shared.control.registry import Tenant, db_error_line
from shared.control.schedule import Due
from shared.control.service_state import switch
from shared.db import join_password, parse_db_url, split_password
from shared.erp import retry_set
from shared.errors import UserError
from shared.jobs import QUEUES
from shared.operation import Operation
from shared.redact import redact
from shared.telemetry.rabbitmq_api import read_queues, split_credentials

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
