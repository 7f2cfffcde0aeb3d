"""Settings from the environment (CONTRACT §4), typed and validated once."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ILUO_SYNC_", extra="ignore")

    control_db: str = "sqlite:///./iluo-sync.db"
    broker_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    rabbitmq_api: SecretStr = SecretStr("http://guest:guest@127.0.0.1:15672/api")
    secret_key: SecretStr | None = None
    metrics_port: int | None = None
    # The address the metrics server listens on (127.0.0.1 keeps it to this machine).
    metrics_addr: str = "0.0.0.0"
    sentry_dsn: SecretStr | None = Field(default=None, validation_alias="SENTRY_DSN")
    # How many tenant database engines stay open at once (least recently used are closed).
    engine_cache_size: int = 64
    # Connections each cached tenant engine keeps open between runs (a run uses one at a time;
    # more are opened while needed and closed after). Per worker process at most
    # engine_cache_size × tenant_pool_size stay open: see README, "Hosted at scale".
    tenant_pool_size: int = Field(default=1, ge=1)
    # Seconds to wait for a database server to answer a connect, and for one statement.
    db_connect_timeout: int = 10
    db_statement_timeout: int = 120
    # The hosted (multi-tenant) mode: shop addresses that resolve to loopback, private,
    # link-local, metadata or other non-public addresses are refused (workers.shops.egress).
    hosted: bool = False
    # Hosts or CIDRs the hosted mode may reach anyway, comma-separated ("10.2.0.0/16,shop.lan").
    shop_allowlist: str = ""
    # Hosts or CIDRs a tenant database may be at in the hosted mode although they are loopback,
    # link-local or metadata addresses (shared.control.tenant_hosts; private ones are allowed).
    tenant_db_allowlist: str = ""
    # Alerts (shared.control.alerts): after this many failed runs in a row of one operation, or
    # after this many of its intervals without a successful run; one alert per episode.
    alert_after_failures: int = Field(default=3, ge=1)
    alert_after_intervals: int = Field(default=6, ge=1)
    # Where alerts are POSTed as JSON (off when unset); may carry a token, so it is a secret.
    alert_webhook: SecretStr | None = None
    # The retry set (shared.erp.retry_set): an item kept for retry longer than this many
    # minutes makes `status` exit 1 and opens one alert per episode.
    pending_alert_minutes: int = Field(default=60, ge=1)
    # The reconciliation under import_orders' cursor: every this many hours per integration,
    # the ids of shop orders created in the last `reconcile_days` days against the ERP's.
    reconcile_hours: int = Field(default=24, ge=1)
    reconcile_days: int = Field(default=14, ge=1, le=90)
    # Safety valves (workers.engine.safety): a run stops before writing when it would deactivate
    # more than this share (%) of the integration's bound products (export_products), or send 0
    # for more than this share of the products whose shop stock is positive (update_stock).
    safety_max_deactivate_pct: float = Field(default=20, ge=0, le=100)
    safety_max_zero_stock_pct: float = Field(default=50, ge=0, le=100)
    # The web console (app.console): sessions last this many hours; `console_https` marks the
    # session cookie Secure (set it when the console is served over https, as behind an
    # ingress); times are shown in this zone.
    console_session_hours: int = Field(default=8, ge=1, le=24 * 7)
    console_https: bool = False
    console_timezone: str = "Europe/Warsaw"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
