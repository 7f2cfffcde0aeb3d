"""Secrets never leave the process: the redaction net, logs, and Sentry events."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from shared import redact as redact_module
from shared.redact import MASK, RedactingFilter, redact, redact_obj, register_secret
from shared.telemetry.sentry import init_sentry, report_failed_run, run_scope, scrub_event


class CapturingTransport(Transport):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        for item in envelope.items:
            if item.type == "event":
                self.events.append(item.payload.json)


@pytest.fixture
def sentry_events() -> Iterator[list[dict[str, Any]]]:
    transport = CapturingTransport()
    init_sentry(None, transport=transport)
    yield transport.events
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # back to a disabled client for the rest of the suite


@pytest.mark.parametrize(
    "text, secret",
    [
        ("postgresql://erp:Tajne!Haslo1@db/erp", "Tajne!Haslo1"),
        ("DRIVER={FreeTDS};SERVER=h;UID=sa;PWD=Zaq12wsx;", "Zaq12wsx"),
        (
            "https://shop/wp-json/wc/v3/orders?consumer_key=ck_1a2b3c4d5e6f7a8b",
            "ck_1a2b3c4d5e6f7a8b",
        ),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.abc", "eyJhbGciOiJIUzI1NiJ9.abc"),
        ("key cs_9f8e7d6c5b4a39281706 leaked", "cs_9f8e7d6c5b4a39281706"),
    ],
)
def test_patterns(text: str, secret: str) -> None:
    assert secret not in redact(text) and MASK in redact(text)


def test_registered_values_are_masked_everywhere() -> None:
    register_secret("x7-plain-looking-key")
    data = {"a": ["see x7-plain-looking-key here"], "b": ("x7-plain-looking-key",), "n": 5}
    assert "x7-plain-looking-key" not in repr(redact_obj(data))
    register_secret("ab")  # too short to mask safely: ignored
    assert redact("ab cd") == "ab cd"


def test_a_hosted_workers_thousands_of_secrets_are_all_masked_and_folded_in_batches() -> None:
    """Secrets arrive one by one (a tenant at a time); each is masked at once, and they are
    folded into the automaton a batch at a time, not rebuilt per registration."""
    tag = secrets.token_hex(4)
    values = [f"k{tag}-{n:04d}-{secrets.token_hex(8)}" for n in range(700)]
    builds: list[object] = []
    for value in values:
        register_secret(value)
        assert redact(f"key={value};") == f"key={MASK};"  # masked from the moment it is known
        if not any(seen is redact_module._automaton for seen in builds):
            builds.append(redact_module._automaton)
    assert 2 <= len(builds) <= 1 + (700 + redact_module._FOLD_AFTER) // redact_module._FOLD_AFTER
    line = " ".join(values)
    assert not any(value in redact(line) for value in values)
    # One secret inside another, one folded and one not yet: the longer is masked whole.
    longer = f"{values[0]}-tail"  # values[0] is in the automaton, this one not yet
    shorter = values[1][5:25]  # values[1] is in the automaton, this piece of it not yet
    register_secret(longer)
    register_secret(shorter)
    assert redact(f"[{longer}] [{values[1]}] [{shorter}]") == f"[{MASK}] [{MASK}] [{MASK}]"


def test_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    register_secret("log-secret-value-1")
    logger = logging.getLogger("iluo.test")
    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO):
        logger.info("connecting with %s to %s", "log-secret-value-1", "mysql://u:pw123456@h/db")
    assert "log-secret-value-1" not in caplog.text and "pw123456" not in caplog.text


def test_a_failed_run_is_one_tagged_event_without_secrets(
    sentry_events: list[dict[str, Any]],
) -> None:
    secret = "run-secret-" + "0123456789"
    register_secret(secret)
    report_failed_run("shop1", 7, "update_stock", f"HTTP 401 for key {secret}")
    assert len(sentry_events) == 1
    event = sentry_events[0]
    assert event["tags"] == {"tenant": "shop1", "integration": "7", "operation": "update_stock"}
    assert secret not in repr(event)


def test_exceptions_are_scrubbed_including_dramatiq_message_copies(
    sentry_events: list[dict[str, Any]],
) -> None:
    password = "Pa55" + "word!"  # built at run time: Sentry also sends this file's source lines
    with run_scope("shop2", 1, "import_orders"):
        try:
            raise RuntimeError(f"cannot connect to mssql://sa:{password}@erp/db")
        except RuntimeError:
            sentry_sdk.capture_exception()
    [event] = sentry_events
    assert password not in repr(event) and event["tags"]["tenant"] == "shop2"
    scrubbed = scrub_event({"contexts": {"dramatiq": {"data": {"args": [1, 2]}, "type": "x"}}})
    assert "data" not in scrubbed["contexts"]["dramatiq"]
