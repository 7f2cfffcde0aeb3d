"""What every console request goes through: the session (signed cookie) and its user, the
CSRF check on every POST, the access rule of the page, and the handler in a thread (the
databases are reached synchronously, never on the event loop). A handler gets a Ctx: the
request, its form, its user, and how to answer (render a page, leave a message, redirect).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dramatiq.broker import Broker
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app.console import actions
from app.console.accounts import User, get_user
from app.console.i18n import DEFAULT, LANGUAGES, translator
from shared.control.registry import Registry, Tenant
from shared.control.schedule import now_s

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


async def error_page(request: Request, exc: Exception) -> Response:
    """403 / 404 / 400 / 429 as a page in the visitor's language, nothing else said."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    lang = request.session.get("lang") if "session" in request.scope else None
    t = translator(lang if lang in LANGUAGES else DEFAULT)
    key = {403: "forbidden", 400: "bad_request"}.get(status, "not_found")
    console: Console = request.app.state.console
    html = console.env.get_template("error.html").render(
        t=t, lang=lang or DEFAULT, user=None, message=t(key), status=status, path="/")
    return HTMLResponse(html, status_code=status)
