"""A scheduled run that fails on a configuration only a person can fix — an Allegro seller's
authorisation that ended — alerts at once (history, webhook on 127.0.0.1, Sentry), once per
episode, and the episode ends with the next success after the seller authorises again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import Engine, select, update

from shared.control.refresh import refresh_tenant
from shared.erp import schema as erp
from shared.erp.integrations import load_integration
from shared.erp.sync_tables import sync_events, sync_oauth_tokens
from tests.ops.conftest import Receiver, due_job, row
from tests.service.conftest import Control
from workers.actors import process_sync
from workers.domain import Operation
from workers.engine.connector_state import SqlConnectorState
from workers.ports import ShopConnection
from workers.shops.allegro.auth import authorise
from workers.shops.allegro.sandbox import AllegroSandbox

OP = Operation.IMPORT_ORDERS
CLIENT_ID, CLIENT_SECRET = "allegro-ops-client", "allegro-ops-secret-123"


@pytest.fixture
def allegro() -> Iterator[tuple[AllegroSandbox, str]]:
    sandbox = AllegroSandbox(CLIENT_ID, CLIENT_SECRET)
    with sandbox.serve() as handle:
        yield sandbox, handle.base_url


def _alerts(erp_db: Engine) -> list[Any]:
    with erp_db.connect() as conn:
        return conn.execute(select(sync_events).where(sync_events.c.kind == "alert")).all()


def _scheduled(control: Control) -> str:
    return process_sync(*due_job(control, OP).args(), registry=control.registry)


def _authorise(erp_db: Engine, base_url: str) -> None:
    with erp_db.connect() as conn:
        config = load_integration(conn, 1)
    assert config is not None
    authorise(ShopConnection.of(config), SqlConnectorState(erp_db, 1), lambda d: None,
              sleep=lambda s: None)


def test_an_ended_authorisation_alerts_at_once_and_once(
    control: Control, allegro: tuple[AllegroSandbox, str], webhook: Receiver,
    sentry_events: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch,
) -> None:
    sandbox, base_url = allegro
    monkeypatch.setenv("ILUO_SYNC_SECRET_KEY", Fernet.generate_key().decode())
    control.registry.settings = control.settings.model_copy(
        update={"alert_webhook": SecretStr(webhook.url)})
    tenant, erp_db = control.add_tenant("seller", base_url=base_url, api_key=CLIENT_ID,
                                        api_secret=CLIENT_SECRET)
    with erp_db.begin() as conn:
        conn.execute(update(erp.shop_integrations).values(platform="allegro"))
    refresh_tenant(control.registry, tenant.id)
    _authorise(erp_db, base_url)
    assert _scheduled(control) == "ok"

    sandbox.revoke()  # the seller disconnected the application
    with erp_db.begin() as conn:  # and the access token is due for a refresh
        conn.execute(update(sync_oauth_tokens).values(
            expires_at=datetime.now(UTC).replace(tzinfo=None)))
    assert _scheduled(control) == "failed"

    [alert] = _alerts(erp_db)  # the first failure, not the third
    assert "cannot run until its configuration is fixed" in alert.message
    assert "integration-auth" in alert.message
    [post] = webhook.posts
    assert post["json"]["reason"] == "config_error"
    assert sentry_events[-1]["tags"]["alert"] == "config_error"

    assert _scheduled(control) == "failed"  # the same episode: no second alert
    assert len(_alerts(erp_db)) == 1 and len(webhook.posts) == 1

    _authorise(erp_db, base_url)  # the seller authorises again
    assert _scheduled(control) == "ok"
    assert row(control, OP).alerted_at is None
