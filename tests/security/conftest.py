"""Security tests: hostile shop data, secrets, tenant isolation, outbound requests, SQL.

Property-based tests use the fixed, derandomised profile of `tests.security.support`
(`hostile()`, profile `security`), so CI runs the same examples every time and the whole folder
stays well under a minute. `HYPOTHESIS_PROFILE_SECURITY=security-deep` explores 2000 random
examples per property (about 15 minutes) by hand.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.settings import get_settings
from tests.engine.support import erp, erp_db, shared_pg, woo  # noqa: F401  (fixtures)


@pytest.fixture
def hosted(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The hosted mode from the environment, as a deployment sets it (settings re-read)."""
    monkeypatch.setenv("ILUO_SYNC_HOSTED", "1")
    monkeypatch.delenv("ILUO_SYNC_SHOP_ALLOWLIST", raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()
