"""The console's routes and rules through the ASGI test client, against a real control DB
(PostgreSQL), real tenant databases and a real RabbitMQ vhost: logging in, the login limit,
CSRF, what a tenant user may reach, escaping, paging, Run now, the emergency switch, and the
record of every action."""

from __future__ import annotations

import re

from sqlalchemy import insert, select, update

from app.console.accounts import set_password
from app.webhooks import store
from shared.control.refresh import refresh_tenant
from shared.control.schedule import now_s
from shared.control.tables import schedules, service_events, tenants
from shared.erp.schema import shop_integration_operations, shop_integrations
from shared.erp.sync_tables import sync_events, sync_service_state
from tests.console.conftest import OPERATOR, OPERATOR_PASSWORD, Site, csrf_of, log_in


def _events(site: Site) -> list[str]:
    with site.registry.engine.connect() as conn:
        rows = conn.execute(select(service_events.c.message)
                            .where(service_events.c.kind == "console")
                            .order_by(service_events.c.id)).all()
    return [row.message for row in rows]


def _active(site: Site, name: str) -> bool:
    return site.registry.get(name).is_active


def test_pages_need_a_login_and_a_right_password(site: Site) -> None:
    client = site.client()
    for path in ("/", "/service", "/tenants", "/tenants/1", "/tenants/1/history"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert log_in(client, OPERATOR, "wrong-password-1").status_code == 401
    assert log_in(client, "nobody", OPERATOR_PASSWORD).status_code == 401
    answer = log_in(client, OPERATOR, OPERATOR_PASSWORD)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/service").status_code == 200
    assert any(e.startswith(f"{OPERATOR}: logged in") for e in _events(site))
    assert any(e.startswith(f"{OPERATOR}: login refused") for e in _events(site))


def test_many_wrong_passwords_are_refused_with_429_even_the_right_one_then(site: Site) -> None:
    client = site.client()
    answers = [log_in(client, OPERATOR, f"wrong-password-{n}").status_code for n in range(5)]
    assert answers == [401] * 5
    assert log_in(client, OPERATOR, "wrong-password-6").status_code == 429
    assert log_in(client, OPERATOR, OPERATOR_PASSWORD).status_code == 429
    assert client.get("/service", follow_redirects=False).status_code == 303  # still out


def test_a_form_without_the_right_csrf_token_changes_nothing(site: Site) -> None:
    tenant, _ = site.add_tenant("shop1")
    client = site.client()
    log_in(client, OPERATOR, OPERATOR_PASSWORD)
    for token in (None, "forged", csrf_of(site.client().get("/login").text)):
        data = {} if token is None else {"csrf": token}
        answer = client.post(f"/tenants/{tenant.id}/confirm/off", data=data)
        assert answer.status_code == 403
    assert _active(site, "shop1")
    answer = client.post("/tenants", data={"name": "evil", "db_url": "sqlite:///x.db"})
    assert answer.status_code == 403
    assert [t.name for t in site.registry.list()] == ["shop1"]


def test_a_tenant_user_sees_only_their_tenant(site: Site) -> None:
    mine, _ = site.add_tenant("mine")
    theirs, _ = site.add_tenant("theirs")
    site.add_user("customer", "customer-password", mine)
    client = site.client()
    assert log_in(client, "customer", "customer-password").headers["location"] == "/"
    assert client.get("/", follow_redirects=False).headers["location"] == f"/tenants/{mine.id}"
    assert client.get(f"/tenants/{mine.id}").status_code == 200
    token = csrf_of(client.get(f"/tenants/{mine.id}").text)
    for path in (f"/tenants/{theirs.id}", f"/tenants/{theirs.id}/history",
                 f"/tenants/{theirs.id}/runs/1", f"/tenants/{theirs.id}/confirm/off",
                 "/tenants/99999"):
        assert client.get(path).status_code == 404, path
    for path, data in ((f"/tenants/{theirs.id}/confirm/off", {}),
                       (f"/tenants/{theirs.id}/run",
                        {"integration": "1", "operation": "import-orders"})):
        assert client.post(path, data={"csrf": token, **data}).status_code == 404
    assert client.get("/service").status_code == 403
    assert client.post("/tenants", data={"csrf": token, "name": "x",
                                         "db_url": "sqlite:///x.db"}).status_code == 403
    assert client.post(f"/tenants/{mine.id}/confirm/remove",
                       data={"csrf": token}).status_code == 403
    assert _active(site, "theirs") and {t.name for t in site.registry.list()} == {"mine",
                                                                                    "theirs"}
    operator = site.client()
    log_in(operator, OPERATOR, OPERATOR_PASSWORD)
    question = operator.get(f"/tenants/{mine.id}/confirm/remove")
    assert operator.post(f"/tenants/{mine.id}/confirm/remove",
                         data={"csrf": csrf_of(question.text)}).status_code == 200
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    assert log_in(site.client(), "customer", "customer-password").status_code == 401
    with site.registry.engine.connect() as conn:
        queued = conn.execute(select(schedules.c.id).where(
            schedules.c.tenant_id == theirs.id, schedules.c.queued_at.is_not(None))).all()
    assert queued == []


def test_html_in_shop_texts_is_shown_as_text(site: Site) -> None:
    tenant, engine = site.add_tenant("shop1")
    script = "<script>alert('x')</script>"
    with engine.begin() as conn:
        conn.execute(update(shop_integrations).values(name=f"Sklep {script}"))
        conn.execute(insert(sync_events).values(
            integration_id=1, operation="import_products", at=now_s(), level="error",
            kind="item_error", item=f"SKU-{script}", message="bad <img src=x onerror=alert(1)>"))
    client = site.client()
    log_in(client, OPERATOR, OPERATOR_PASSWORD)
    for path in (f"/tenants/{tenant.id}", f"/tenants/{tenant.id}/history"):
        page = client.get(path).text
        assert script not in page and "<img src=x" not in page
        assert "&lt;script&gt;" in page


def test_paging_and_filters_of_the_history(site: Site) -> None:
    tenant, engine = site.add_tenant("shop1")
    with engine.begin() as conn:
        conn.execute(insert(sync_events), [
            dict(integration_id=1, operation="update_stock", at=now_s(), kind="updated",
                 level="error" if n % 2 else "info", item=f"SKU-{n:03d}", message="m")
            for n in range(120)])
    client = site.client()
    log_in(client, OPERATOR, OPERATOR_PASSWORD)
    base = f"/tenants/{tenant.id}/history"
    first = client.get(base + "?level=error&operation=update-stock")
    assert first.status_code == 200 and first.text.count('class="level-error"') == 50
    assert "page=2" in first.text
    assert client.get(base + "?level=error&page=2").text.count('class="level-error"') == 10
    for page in ("0", "201", "99999999999999999999", "-1", "x"):
        assert client.get(f"{base}?page={page}").status_code == 404, page


def test_adding_a_tenant_tests_the_connection_and_never_echoes_the_password(site: Site) -> None:
    client = site.client()
    log_in(client, OPERATOR, OPERATOR_PASSWORD)
    token = csrf_of(client.get("/tenants").text)
    secret = "Sekret-hasło-123"
    answer = client.post("/tenants", data={
        "csrf": token, "name": "bad", "db_password": secret,
        "db_url": f"postgresql://postgres:{secret}@127.0.0.1:1/nothing", "active": "on"})
    assert answer.status_code == 400
    assert secret not in answer.text
    assert 'value="postgresql+psycopg://postgres@127.0.0.1:1/nothing"' in answer.text
    assert site.registry.list() == []
    url, _ = site.erp()
    answer = client.post("/tenants", data={"csrf": token, "name": "good", "db_url": url,
                                           "active": "on", "event_history": "on"})
    tenant = site.registry.get("good")
    assert answer.status_code == 200 and str(answer.url).endswith(f"/tenants/{tenant.id}")
    assert "Baza dodana" in answer.text and "Sklep demo" in answer.text
    assert f"{OPERATOR}: added tenant good ({url})" in _events(site)


def test_the_emergency_switch_asks_first_then_stops_and_tells_the_erp(site: Site) -> None:
    tenant, engine = site.add_tenant("shop1")
    client = site.client()
    log_in(client, OPERATOR, OPERATOR_PASSWORD)
    question = client.get(f"/tenants/{tenant.id}/confirm/off")
    assert question.status_code == 200 and _active(site, "shop1")
    done = client.post(f"/tenants/{tenant.id}/confirm/off", data={"csrf": csrf_of(question.text)})
    assert done.status_code == 200 and not _active(site, "shop1")
    with engine.connect() as conn:
        state = conn.execute(select(sync_service_state.c.state).where(
            sync_service_state.c.integration_id == 0)).scalar()
    assert state == "stopped"
    assert f"{OPERATOR}: deactivated tenant shop1" in _events(site)
    again = client.post(f"/tenants/{tenant.id}/confirm/on", data={"csrf": csrf_of(done.text)})
    assert again.status_code == 200 and _active(site, "shop1")


def test_run_now_publishes_like_the_tick_once_and_refuses_what_the_schedule_refuses(
    site: Site,
) -> None:
    tenant, engine = site.add_tenant("shop1")
    client = site.client()
    log_in(client, OPERATOR, OPERATOR_PASSWORD)
    token = csrf_of(client.get(f"/tenants/{tenant.id}").text)

    def run(operation: str) -> str:
        page = client.post(f"/tenants/{tenant.id}/run",
                           data={"csrf": token, "integration": "1", "operation": operation})
        assert page.status_code == 200
        return page.text

    with site.registry.engine.begin() as conn:  # the first tick has published everything
        conn.execute(update(schedules).values(next_due_at=now_s().replace(year=2099)))
    assert "Zlecone" in run("import-orders")
    with site.registry.engine.connect() as conn:
        rows = {r.operation: r for r in conn.execute(
            select(schedules).where(schedules.c.tenant_id == tenant.id))}
    assert rows["import_orders"].queued_at is not None
    assert all(r.queued_at is None for op, r in rows.items() if op != "import_orders")
    assert "już czeka" in run("import-orders")  # queued: that message is the run asked for
    with engine.begin() as conn:  # product import and export both on: neither may run
        conn.execute(update(shop_integration_operations)
                     .where(shop_integration_operations.c.operation == "import_products")
                     .values(enabled=True))
    refresh_tenant(site.registry, tenant.id)
    refused = run("export-products")
    assert "Nie można uruchomić" in refused and "product import and product export" in refused
    assert client.post(f"/tenants/{tenant.id}/run", data={
        "csrf": token, "integration": "1", "operation": "nonsense"}).status_code == 400
    assert any("run now import-orders of integration 1: due" in e for e in _events(site))


def test_the_language_switch_and_no_open_redirect(site: Site) -> None:
    client = site.client()
    assert "Logowanie" in client.get("/login").text
    answer = client.get("/lang/en?next=//evil.example/x", follow_redirects=False)
    assert answer.headers["location"] == "/"
    assert "Log in to the Configurator" in client.get("/login").text


def test_a_changed_password_ends_open_sessions(site: Site) -> None:
    client = site.client()
    log_in(client, OPERATOR, OPERATOR_PASSWORD)
    assert client.get("/service").status_code == 200
    with site.registry.engine.begin() as conn:
        set_password(conn, OPERATOR, "a-new-password-1", now=now_s().replace(year=2030))
    assert client.get("/service", follow_redirects=False).status_code == 303


def test_the_tenants_list_reads_the_control_db_only(site: Site) -> None:
    site.add_tenant("shop1")
    with site.registry.engine.begin() as conn:
        conn.execute(update(schedules).where(schedules.c.operation == "update_stock")
                     .values(consecutive_failures=5, kept_retry=2))
        conn.execute(update(tenants).values(db_url="postgresql://nobody@127.0.0.1:1/gone"))
    client = site.client()
    log_in(client, OPERATOR, OPERATOR_PASSWORD)
    page = client.get("/tenants").text
    assert 'class="light red"' in page and ">shop1<" in page


def test_an_integration_shows_its_webhook_state_and_last_hook(site: Site) -> None:
    tenant, _ = site.add_tenant("shop1")
    client = site.client()
    log_in(client, OPERATOR, OPERATOR_PASSWORD)

    def shown() -> str:
        page = client.get(f"/tenants/{tenant.id}/live").text
        found = re.search(r'<p class="muted" id="webhook-1">(.*?)</p>', page, re.S)
        assert found, "no webhook line on the integration"
        return found.group(1)

    assert "brak (tylko odpytywanie)" in shown()
    with site.registry.tenant_engine(tenant).begin() as conn:
        store.create(conn, site.registry.box, tenant.id, 1, now_s())
        store.set_state(conn, 1, now_s(), state="registered", shop_webhook_ids="1,2")
    line = shown()
    assert "zarejestrowane, aktywne w sklepie" in line and "ostatni odebrany" in line
    assert "nigdy" in line
    with site.registry.tenant_engine(tenant).begin() as conn:
        store.touch(conn, 1, now_s())
        store.set_state(conn, 1, now_s(), state="disabled")
    line = shown()
    assert "wyłączone przez sklep" in line and "nigdy" not in line
