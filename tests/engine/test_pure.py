"""Pure rules: windows, full-pass policy, fingerprints, saleable quantity, order numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from shared.erp.retry_set import ATTENTION, RETRY, delay
from workers.engine import watermarks
from workers.engine.fingerprints import fingerprint
from workers.engine.store import net_from_gross, order_number
from workers.operations._common import Batcher
from workers.operations.update_stock import saleable

NOW = datetime(2025, 3, 30, 12, 0, tzinfo=UTC)


def test_window_overlaps_the_previous_one_and_ends_behind_now() -> None:
    cursor = NOW - timedelta(minutes=5)
    window = watermarks.window(cursor, start_if_none=None, now=NOW)
    assert window.since == cursor - watermarks.OVERLAP
    assert window.until == NOW - watermarks.END_LAG
    first = watermarks.window(None, start_if_none=NOW - timedelta(days=30), now=NOW)
    assert first.since == NOW - timedelta(days=30)
    assert watermarks.window(None, start_if_none=None, now=NOW).since is None


def test_cursor_advances_capped_and_never_backwards() -> None:
    window = watermarks.Window(NOW - timedelta(hours=1), NOW)
    assert window.advance(None, NOW - timedelta(minutes=30)) == NOW - timedelta(minutes=30)
    assert window.advance(NOW - timedelta(minutes=10), NOW - timedelta(minutes=30)) == \
        NOW - timedelta(minutes=10)  # a re-scanned older item does not pull it back
    assert window.advance(None, NOW + timedelta(hours=1)) == NOW  # never past the window
    assert window.advance(NOW, None) == NOW


def test_full_pass_policy() -> None:
    assert watermarks.full_pass_due(None, forced=False, now=NOW)
    assert watermarks.full_pass_due(NOW, forced=True, now=NOW)
    assert not watermarks.full_pass_due(NOW - timedelta(hours=23), forced=False, now=NOW)
    assert watermarks.full_pass_due(NOW - timedelta(hours=24), forced=False, now=NOW)


def test_fingerprint_is_stable_and_value_based() -> None:
    a = fingerprint({"price": Decimal("12.30"), "name": "x", "w": None})
    assert a == fingerprint({"w": None, "name": "x", "price": Decimal("12.3")})
    assert a != fingerprint({"price": Decimal("12.31"), "name": "x", "w": None})
    assert len(a) == 64


def test_saleable_quantity_is_floored_and_never_negative() -> None:
    assert saleable(Decimal("8.999")) == 8
    assert saleable(Decimal("-3")) == 0
    assert saleable(Decimal("0.5")) == 0


def test_order_number_is_deterministic_and_fits() -> None:
    assert order_number(1, "1234") == order_number(1, "1234") == "WWW/1/1234"
    long = order_number(12, "x" * 64)
    assert len(long) <= 40 and long != order_number(12, "y" * 64)
    assert net_from_gross(Decimal("123.00"), Decimal("23")) == Decimal("100.00")


def test_batcher_sends_full_batches_then_the_rest() -> None:
    sent: list[list[int]] = []
    batcher: Batcher[int] = Batcher(lambda: 3, sent.append)
    batcher.extend(range(4))
    batcher.add(4)
    batcher.flush()
    assert sent == [[0, 1, 2], [3, 4]]


def test_kept_items_back_off_from_the_next_run_to_hourly_and_attention_to_daily() -> None:
    minutes = [delay(n, RETRY) / timedelta(minutes=1) for n in range(1, 8)]
    assert minutes == [0, 5, 10, 20, 40, 60, 60]
    assert delay(10_000, RETRY) == timedelta(hours=1)  # never beyond hourly, never overflowing
    assert {delay(n, ATTENTION) for n in (1, 2, 50)} == {timedelta(hours=24)}
