"""Helpers for the Allegro tests: a real tenant database for the connector's state, a sandbox
served over HTTP, and a client authorised through the device flow against it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from sqlalchemy import Engine

from shared.crypto import SecretBox
from shared.db import make_engine
from shared.erp.demo import create_erp_schema
from shared.migrate import TENANT, upgrade
from workers.engine.connector_state import SqlConnectorState
from workers.ports import ShopConnection
from workers.shops.allegro.auth import authorise
from workers.shops.allegro.client import AllegroClient
from workers.shops.allegro.rate import RateGate
from workers.shops.sandbox import SandboxHandle

CLIENT_ID = "allegro-app-0123456789"
CLIENT_SECRET = "allegro-secret-abcdef0123456789"
BOX = SecretBox(Fernet.generate_key())


def tenant(tmp_path: Path) -> Engine:
    """A SQLite tenant database with the sync_* tables (t0006 included)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'tenant.db'}")
    create_erp_schema(engine)
    upgrade(engine, TENANT)
    return engine


def state(engine: Engine, integration_id: int = 1) -> SqlConnectorState:
    return SqlConnectorState(engine, integration_id, box=lambda: BOX)


def connection(handle: SandboxHandle, integration_id: int = 1) -> ShopConnection:
    return ShopConnection(integration_id=integration_id, platform="allegro",
                          base_url=handle.base_url, api_key=CLIENT_ID, api_secret=CLIENT_SECRET)


def authorised(handle: SandboxHandle, engine: Engine, **kw: Any) -> AllegroClient:
    """Authorise through the device flow (the sandbox approves), then a client with its own
    rate gate and no real sleeping."""
    store = state(engine)
    authorise(connection(handle), store, lambda device: None, sleep=lambda s: None)
    kw.setdefault("sleep", lambda s: None)
    kw.setdefault("gate", RateGate(sleep=lambda s: None))
    return AllegroClient(connection(handle), state=store, **kw)
