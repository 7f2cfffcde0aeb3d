"""SqlConnectorState: the ConnectorState port over the tenant database (t0006 tables).

A connector that must remember something between runs (Allegro: the seller's OAuth tokens and
the offers it ended for lack of stock) gets this store through `ShopConnection.state`. Every
call is its own short transaction: a refreshed token must be kept even when the run fails, or is
a dry run, a moment later — a refresh token the provider rotated and we lost would lock the
integration out until the seller authorises again.

Tokens are encrypted with the registry's Fernet key (shared.crypto), built only when a token is
read or written, so platforms without tokens need no key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Engine, and_, delete, select, update

from shared.crypto import SecretBox, load_secret_box
from shared.erp.sync_tables import sync_ended_offers, sync_oauth_tokens
from shared.redact import register_secret
from shared.settings import Settings
from workers.engine.clock import from_db, to_db, utc_now
from workers.engine.dialect import insert_many_or_skip, insert_or_skip
from workers.ports import OAuthTokens, ShopConnection

#: Offer ids per IN (...) query: far below every backend's parameter limit.
_CHUNK = 500


def settings_box() -> SecretBox:
    """The key for stored secrets, as the tenant registry builds it: from the environment as it
    is now (the registry reads it afresh at each command, and so must we, or a token stored by
    `integration-auth` could be read with another key)."""
    settings = Settings()
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    register_secret(secret)
    return load_secret_box(settings.control_db, secret)


class SqlConnectorState:
    """One integration's connector state in its tenant database."""

    def __init__(self, engine: Engine, integration_id: int,
                 box: Callable[[], SecretBox] = settings_box) -> None:
        self.engine = engine
        self.integration_id = integration_id
        self._make_box = box
        self._box: SecretBox | None = None

    @property
    def box(self) -> SecretBox:
        if self._box is None:
            self._box = self._make_box()
        return self._box

    # -- tokens ---------------------------------------------------------------------------------

    def load_tokens(self) -> OAuthTokens | None:
        t = sync_oauth_tokens.c
        with self.engine.connect() as conn:
            row = conn.execute(select(sync_oauth_tokens)
                               .where(t.integration_id == self.integration_id)).first()
        if row is None:
            return None
        access, refresh = self.box.decrypt(row.access_token), self.box.decrypt(row.refresh_token)
        register_secret(access)
        register_secret(refresh)
        expires = from_db(row.expires_at)
        assert expires is not None  # NOT NULL column
        return OAuthTokens(access, refresh, expires, int(row.version))

    def save_tokens(self, tokens: OAuthTokens, *, replaces: int | None) -> bool:
        t = sync_oauth_tokens.c
        values = {
            "access_token": self.box.encrypt(tokens.access_token),
            "refresh_token": self.box.encrypt(tokens.refresh_token),
            "expires_at": to_db(tokens.expires_at),
            "updated_at": to_db(utc_now()),
        }
        with self.engine.begin() as conn:
            if replaces is not None:
                changed = conn.execute(
                    update(sync_oauth_tokens)
                    .where(t.integration_id == self.integration_id, t.version == replaces)
                    .values(**values, version=replaces + 1)).rowcount
                return bool(changed)
            # A fresh authorisation replaces whatever was there (the seller authorised again).
            current = conn.execute(select(t.version)
                                   .where(t.integration_id == self.integration_id)).scalar()
            if current is None:
                return insert_or_skip(conn, sync_oauth_tokens,
                                      {"integration_id": self.integration_id, **values,
                                       "version": 1}, ("integration_id",))
            conn.execute(update(sync_oauth_tokens)
                         .where(t.integration_id == self.integration_id)
                         .values(**values, version=int(current) + 1))
            return True

    # -- offers we ended ------------------------------------------------------------------------

    def ended_offers(self, offer_ids: Sequence[str]) -> set[str]:
        e = sync_ended_offers.c
        found: set[str] = set()
        wanted = sorted(set(offer_ids))
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), _CHUNK):
                found.update(conn.execute(select(e.offer_id).where(
                    e.integration_id == self.integration_id,
                    e.offer_id.in_(wanted[start:start + _CHUNK]))).scalars())
        return found

    def record_ended(self, offer_ids: Sequence[str]) -> None:
        now = to_db(utc_now())
        rows = [{"integration_id": self.integration_id, "offer_id": offer_id, "ended_at": now}
                for offer_id in sorted(set(offer_ids))]
        with self.engine.begin() as conn:
            insert_many_or_skip(conn, sync_ended_offers, rows, ("integration_id", "offer_id"))

    def forget_ended(self, offer_ids: Sequence[str]) -> None:
        e = sync_ended_offers.c
        wanted = sorted(set(offer_ids))
        with self.engine.begin() as conn:
            for start in range(0, len(wanted), _CHUNK):
                conn.execute(delete(sync_ended_offers).where(and_(
                    e.integration_id == self.integration_id,
                    e.offer_id.in_(wanted[start:start + _CHUNK]))))


def with_state(conn: ShopConnection, engine: Engine) -> ShopConnection:
    """The connection with its integration's state store attached (what a run hands over)."""
    return ShopConnection(
        integration_id=conn.integration_id, platform=conn.platform, base_url=conn.base_url,
        api_key=conn.api_key, api_secret=conn.api_secret, shop_timezone=conn.shop_timezone,
        verify_tls=conn.verify_tls, state=SqlConnectorState(engine, conn.integration_id))
