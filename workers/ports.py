"""The two ports operations are written against: a shop (ShopClient) and the tenant DB (ErpStore).

A connector in `workers/shops/<platform>/` implements ShopClient; `workers.engine.store` implements
ErpStore. Operations never see HTTP or SQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Protocol

from shared.erp.integrations import IntegrationConfig
from workers.domain import ItemResult, Order, Page, Product, StatusChange, StockQuantity


class ShopError(Exception):
    """The shop cannot be used for this run (auth refused, malformed page, 4xx): the run fails."""


class ShopConfigError(ShopError):
    """No run can succeed until a person changes the integration (a marketplace seller's
    authorisation ended): the run fails and is recorded as a configuration error."""


class ShopRetriableError(ShopError):
    """A transient failure (timeout, 429, 5xx) that outlived the client's own short retries."""


@dataclass(frozen=True, slots=True)
class OAuthTokens:
    """A seller's OAuth pair as the integrator keeps it; `expires_at` (aware UTC) is the access
    token's end, `version` the stored row's version (compare-and-swap on refresh)."""

    access_token: str
    refresh_token: str
    expires_at: datetime
    version: int = 0

    def __repr__(self) -> str:  # never print a token
        return f"OAuthTokens(expires_at={self.expires_at.isoformat()} version={self.version})"


class ConnectorState(Protocol):
    """What a connector keeps between runs in the tenant database (a platform that needs it:
    Allegro's OAuth tokens and the offers it ended). Every call commits on its own: a refreshed
    token must survive a run that fails (or is a dry run) right after."""

    def load_tokens(self) -> OAuthTokens | None: ...

    def save_tokens(self, tokens: OAuthTokens, *, replaces: int | None) -> bool:
        """Store a new pair. With `replaces`, only while the stored version is still that one
        (another run may have refreshed meanwhile): False then, and nothing is written."""
        ...

    def ended_offers(self, offer_ids: Sequence[str]) -> set[str]:
        """Which of these offers the integrator ended for lack of stock."""
        ...

    def record_ended(self, offer_ids: Sequence[str]) -> None: ...

    def forget_ended(self, offer_ids: Sequence[str]) -> None: ...


@dataclass(frozen=True, slots=True)
class ShopConnection:
    """What a connector needs to reach one shop: the integration's connection columns.

    `verify_tls` is on unless an integration explicitly opts out (local test shops only).
    `state` is the integrator's per-integration store in the tenant DB, handed in by the runner
    (None outside a run: a connector that needs it says so).
    """

    integration_id: int
    platform: str
    base_url: str
    api_key: str
    api_secret: str | None
    shop_timezone: str = "Europe/Warsaw"
    verify_tls: bool = True
    state: ConnectorState | None = field(default=None, compare=False)

    def __repr__(self) -> str:  # never print the key or secret
        return f"ShopConnection({self.platform} {self.base_url} integration={self.integration_id})"

    @classmethod
    def of(cls, cfg: IntegrationConfig) -> ShopConnection:
        """The connection columns of an integration as a run read them."""
        return cls(
            integration_id=cfg.id,
            platform=cfg.platform,
            base_url=cfg.base_url.rstrip("/"),
            api_key=cfg.api_key,
            api_secret=cfg.api_secret,
            shop_timezone=cfg.shop_timezone,
            verify_tls=cfg.verify_tls,
        )


class ShopClient(Protocol):
    """One shop platform. All times passed in and out are timezone-aware UTC.

    Read methods yield pages in a stable ascending order so a run can commit page by page.
    Write methods take at most `batch_size` items and answer one ItemResult per item, in order;
    a whole-call failure raises ShopError / ShopRetriableError instead.
    """

    platform: ClassVar[str]
    page_size: int
    batch_size: int

    def iter_orders(self, since: datetime, until: datetime) -> Iterator[Page[Order]]:
        """Orders created or modified in [since, until], plus whatever re-scan the platform
        needs because its modified date does not move on every change."""
        ...

    def set_order_statuses(self, changes: Sequence[StatusChange]) -> list[ItemResult]:
        """Send mapped statuses; ItemResult.key is the order's external_id."""
        ...

    def find_products_by_sku(self, skus: Sequence[str]) -> dict[str, list[str]]:
        """Shop ids of the products carrying each SKU (absent SKU = no entry)."""
        ...

    def create_products(self, products: Sequence[Product]) -> list[ItemResult]:
        """Create products; ItemResult.key is the SKU, shop_id the new id."""
        ...

    def update_products(self, products: Sequence[Product]) -> list[ItemResult]:
        """Update products that carry `shop_id`; ItemResult.key is the SKU."""
        ...

    def iter_products(self, since: datetime | None, until: datetime) -> Iterator[Page[Product]]:
        """Products modified in [since, until] (all products when since is None)."""
        ...

    # -- the net under the watermark: the retry set and the reconciliation (DESIGN rule 8) ----

    def fetch_orders(self, ids: Sequence[str]) -> Page[Order]:
        """The orders with these shop ids, read by id in the platform's batch form (as few calls
        as the platform allows: `include=` on WooCommerce, `filter[id]=[a|b]` on PrestaShop, …).
        An id the shop does not have is simply absent from the page; one that cannot be parsed
        is a page error keyed by that id."""
        ...

    def fetch_products(self, ids: Sequence[str]) -> Page[Product]:
        """The products with these shop ids, read by id as `fetch_orders` reads orders."""
        ...

    def iter_order_ids(self, since: datetime, until: datetime) -> Iterator[list[str]]:
        """Shop ids of every order *created* in [since, until], in the lightest form the
        platform offers (ids only where it can), page by page — the daily reconciliation."""
        ...

    def set_stock(self, quantities: Sequence[StockQuantity]) -> list[ItemResult]:
        """Set absolute saleable quantities of products carrying `shop_id`; key is the SKU."""
        ...

    def close(self) -> None: ...
