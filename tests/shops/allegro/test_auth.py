"""The seller's OAuth tokens: the device flow, refresh before expiry, a dead refresh token, two
runs refreshing at once, and `iluo-sync integration-auth` end to end through the service."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from app.cli import _load_commands, app
from shared.db import make_engine
from shared.erp import schema as erp
from shared.erp.demo import create_erp_schema, fill_demo
from shared.erp.sync_tables import sync_events, sync_oauth_tokens
from tests.shops.allegro.support import (
    CLIENT_ID,
    CLIENT_SECRET,
    authorised,
    connection,
    state,
    tenant,
)
from workers.ports import ShopError
from workers.shops.allegro.auth import (
    AuthorisationEnded,
    BasicAuth,
    OAuthEndpoint,
    TokenKeeper,
    authorise,
    oauth_base,
)
from workers.shops.allegro.sandbox import AllegroSandbox
from workers.shops.http import ShopHttp
from workers.shops.sandbox import SandboxHandle


@pytest.fixture
def sandbox() -> AllegroSandbox:
    return AllegroSandbox(CLIENT_ID, CLIENT_SECRET)


@pytest.fixture
def handle(sandbox: AllegroSandbox) -> Iterator[SandboxHandle]:
    with sandbox.serve() as served:
        yield served


@pytest.fixture
def db(tmp_path: Path) -> Engine:
    return tenant(tmp_path)


def test_oauth_lives_on_the_host_without_api() -> None:
    assert oauth_base("https://api.allegro.pl") == "https://allegro.pl"
    assert oauth_base("https://api.allegro.pl/") == "https://allegro.pl"
    assert oauth_base("https://api.allegro.pl.allegrosandbox.pl") == \
        "https://allegro.pl.allegrosandbox.pl"
    assert oauth_base("http://127.0.0.1:8099") == "http://127.0.0.1:8099"
    with pytest.raises(ShopError):
        oauth_base("allegro.pl")


def test_device_flow_waits_for_the_seller_and_slows_down_when_asked(
    handle: SandboxHandle, db: Engine,
) -> None:
    now = [1_700_000_000.0]
    sandbox = handle.sandbox
    assert isinstance(sandbox, AllegroSandbox)
    sandbox.clock = lambda: now[0]
    sandbox.auto_approve = False
    shown: list[str] = []
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        # The second wait is cut short (as a clock jump would): that poll comes too early.
        now[0] += 1.0 if len(waits) == 2 else seconds
        if len(waits) == 3:  # the seller confirms meanwhile
            sandbox.approve(shown[0])

    tokens = authorise(connection(handle), state(db), lambda d: shown.append(d.user_code),
                       sleep=sleep)
    # pending, then slow_down (the interval grows by 5 s, RFC 8628 §3.5), then the tokens.
    assert waits == [5.0, 5.0, 10.0]
    assert tokens.access_token in sandbox.access
    stored = state(db).load_tokens()
    assert stored is not None and stored.access_token == tokens.access_token
    with db.connect() as conn:
        row = conn.execute(select(sync_oauth_tokens)).one()
    # Encrypted at rest: neither token appears in the row.
    assert tokens.access_token not in row.access_token + row.refresh_token
    assert tokens.refresh_token not in row.access_token + row.refresh_token


def test_a_refused_authorisation_is_one_clear_error(
    sandbox: AllegroSandbox, handle: SandboxHandle, db: Engine,
) -> None:
    sandbox.auto_approve = False
    with pytest.raises(ShopError, match="refused the authorisation"):
        authorise(connection(handle), state(db), lambda d: sandbox.approve(d.user_code, deny=True),
                  sleep=lambda s: None)
    assert state(db).load_tokens() is None


def test_wrong_client_credentials_say_which_columns_to_check(handle: SandboxHandle,
                                                             db: Engine) -> None:
    conn = connection(handle)
    bad = type(conn)(integration_id=1, platform="allegro", base_url=conn.base_url,
                     api_key=CLIENT_ID, api_secret="not-the-secret")
    with pytest.raises(ShopError, match="api_key = client id"):
        authorise(bad, state(db), lambda d: None, sleep=lambda s: None)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def test_the_access_token_is_refreshed_before_it_ends(
    sandbox: AllegroSandbox, handle: SandboxHandle, db: Engine,
) -> None:
    sandbox.add_offer(sku="A", name="A", price=Decimal("5.00"), stock=1)
    clock = Clock()
    client = authorised(handle, db, clock=clock)
    first = state(db).load_tokens()
    assert first is not None
    list(client.iter_products(None, clock.now))
    assert sandbox.refreshes == 0
    # Six minutes before the end (the margin is five): still the same token.
    clock.now = first.expires_at - timedelta(minutes=6)
    list(client.iter_products(None, clock.now))
    assert sandbox.refreshes == 0
    clock.now = first.expires_at - timedelta(minutes=4)
    list(client.iter_products(None, clock.now))
    assert sandbox.refreshes == 1
    second = state(db).load_tokens()
    assert second is not None and second.version == first.version + 1
    assert second.refresh_token != first.refresh_token
    assert second.access_token in sandbox.access


def test_a_token_revoked_early_is_refreshed_once_on_401(
    sandbox: AllegroSandbox, handle: SandboxHandle, db: Engine,
) -> None:
    client = authorised(handle, db)
    with sandbox.lock:
        sandbox.access.clear()  # the access token dies, the refresh token lives
    assert list(client.iter_products(None, datetime.now(UTC))) == []
    assert sandbox.refreshes == 1


def test_a_dead_refresh_token_is_a_configuration_error_naming_the_fix(
    sandbox: AllegroSandbox, handle: SandboxHandle, db: Engine,
) -> None:
    client = authorised(handle, db)
    sandbox.revoke()  # the seller disconnected the application
    with pytest.raises(AuthorisationEnded) as caught:
        list(client.iter_products(None, datetime.now(UTC)))
    message = str(caught.value)
    assert message.startswith("configuration error:") and "integration-auth" in message
    assert "\n" not in message


def test_two_runs_refreshing_at_once_do_not_lock_the_seller_out(
    sandbox: AllegroSandbox, handle: SandboxHandle, db: Engine,
) -> None:
    """Refresh tokens are single-use in the sandbox (the strict reading): the run that loses
    the race must take the winner's pair, not report the authorisation as ended."""
    authorise(connection(handle), state(db), lambda d: None, sleep=lambda s: None)
    late = Clock()
    late.now += timedelta(hours=13)  # past the access token's end
    keepers = []
    for _ in range(2):
        http = ShopHttp(oauth_base(handle.base_url), platform="allegro", sleep=lambda s: None,
                        auth=BasicAuth(CLIENT_ID, CLIENT_SECRET))
        keepers.append(TokenKeeper(state(db), OAuthEndpoint(http, CLIENT_ID, CLIENT_SECRET, late),
                                   1, late))
    # Both hold the same stored pair, now due for a refresh.
    assert keepers[0].access_token() == keepers[1].access_token()
    assert sandbox.refreshes == 1  # the second took the first one's new pair
    assert keepers[0].access_token() in sandbox.access
    stored = state(db).load_tokens()
    assert stored is not None and stored.version == 2


# -- through the command line and the service --------------------------------------------------


def _erp(tmp_path: Path, base_url: str) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'erp.db'}")
    create_erp_schema(engine)
    fill_demo(engine, platform="allegro", base_url=base_url, api_key=CLIENT_ID,
              api_secret=CLIENT_SECRET, products=5)
    with engine.begin() as conn:
        conn.execute(update(erp.shop_integrations).values(base_url=base_url))
    return engine


def test_integration_auth_then_runs_through_the_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    sandbox = AllegroSandbox(CLIENT_ID, CLIENT_SECRET, interval=0.2)
    monkeypatch.setenv("ILUO_SYNC_CONTROL_DB", f"sqlite:///{tmp_path / 'control.db'}")
    monkeypatch.delenv("ILUO_SYNC_SECRET_KEY", raising=False)
    _load_commands()
    cli = CliRunner()
    with sandbox.serve() as handle:
        engine = _erp(tmp_path, handle.base_url)
        url = engine.url.render_as_string(hide_password=False)
        assert cli.invoke(app, ["tenant", "add", "shop1", "--db-url", url]).exit_code == 0

        before = cli.invoke(app, ["run", "shop1", "1", "import-orders"])
        assert before.exit_code == 1 and "integration-auth" in before.stdout + before.stderr

        authorised_now = cli.invoke(app, ["integration-auth", "shop1", "1"])
        assert authorised_now.exit_code == 0, authorised_now.stderr
        assert "/skojarz-aplikacje?code=" in authorised_now.stdout
        assert "authorised" in authorised_now.stdout
        [token] = list(sandbox.access)
        assert token not in authorised_now.stdout

        sandbox.add_form([("SKU-1", 1, Decimal("9.99"))], email="kupujacy@allegromail.pl",
                         updated=datetime.now(UTC) - timedelta(seconds=30))
        ran = cli.invoke(app, ["run", "shop1", "1", "import-orders", "--json"])
        assert ran.exit_code == 0, ran.stderr
        assert '"created": 1' in ran.stdout

        sandbox.revoke()
        with engine.begin() as conn:  # make the stored token due for a refresh
            conn.execute(update(sync_oauth_tokens).values(
                expires_at=datetime.now(UTC).replace(tzinfo=None)))
        dead = cli.invoke(app, ["run", "shop1", "1", "import-orders"])
        assert dead.exit_code == 1
        assert "configuration error" in dead.stdout + dead.stderr
        assert "integration-auth" in dead.stdout + dead.stderr
        with engine.connect() as conn:  # and the history says so, as for other config errors
            kinds = list(conn.execute(select(sync_events.c.kind)
                                      .where(sync_events.c.kind == "config_error")).scalars())
        assert kinds == ["config_error"] * 2  # the run before authorising, and this one
        listed = cli.invoke(app, ["integrations", "shop1"])
        assert listed.exit_code == 0 and "Allegro: an offer cannot be created" in listed.stdout

        other = cli.invoke(app, ["integration-auth", "shop1", "99"])
        assert other.exit_code == 2 and "no shop integration #99" in other.stderr
