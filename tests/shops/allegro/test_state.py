"""The connector's state in the tenant DB (t0006) on every backend: tokens encrypted and
swapped only over the version they replace, offers we ended remembered and forgotten."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from shared.db import make_engine
from shared.erp.demo import create_erp_schema
from shared.erp.sync_tables import sync_oauth_tokens
from shared.migrate import TENANT, upgrade
from tests.shops.allegro.support import BOX
from workers.engine.connector_state import SqlConnectorState
from workers.ports import OAuthTokens


@pytest.mark.parametrize("backend", ["sqlite", "postgresql", "mariadb"])
def test_tokens_and_ended_offers_on_every_backend(
    backend: str, make_database: Callable[[str], str],
) -> None:
    engine = make_engine(make_database(backend))
    create_erp_schema(engine)
    upgrade(engine, TENANT)
    state = SqlConnectorState(engine, 7, box=lambda: BOX)
    other = SqlConnectorState(engine, 8, box=lambda: BOX)
    assert state.load_tokens() is None
    ends = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=12)
    assert state.save_tokens(OAuthTokens("access-1", "refresh-1", ends), replaces=None)
    first = state.load_tokens()
    assert first is not None and (first.access_token, first.version) == ("access-1", 1)
    assert first.expires_at == ends
    with engine.connect() as conn:
        stored = conn.execute(select(sync_oauth_tokens.c.access_token)).scalar_one()
    assert "access-1" not in stored  # encrypted at rest

    # Compare-and-swap: a refresh over version 1 wins once; a second over 1 loses.
    assert state.save_tokens(OAuthTokens("access-2", "refresh-2", ends), replaces=1)
    assert not state.save_tokens(OAuthTokens("access-3", "refresh-3", ends), replaces=1)
    latest = state.load_tokens()
    assert latest is not None and (latest.access_token, latest.version) == ("access-2", 2)
    assert other.load_tokens() is None  # per integration

    state.record_ended(["111", "222", "111"])
    state.record_ended(["222", "333"])  # again: no duplicate, no error
    assert state.ended_offers(["111", "222", "333", "444"]) == {"111", "222", "333"}
    assert other.ended_offers(["111"]) == set()
    state.forget_ended(["222", "999"])
    assert state.ended_offers(["111", "222", "333"]) == {"111", "333"}
