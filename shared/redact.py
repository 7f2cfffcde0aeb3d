"""Masking secrets in anything we emit (logs, Sentry events, CLI output, history rows).

Two nets: patterns that look like credentials wherever they appear (a password inside a URL,
`PWD=` in an ODBC string, WooCommerce `ck_`/`cs_` keys, bearer tokens), and the exact values this
process has loaded as secrets (tenant DB passwords, shop keys), registered when they are read
and found with an Aho-Corasick automaton (pyahocorasick): one pass over the text whatever the
number of secrets, which in a hosted worker is tens of thousands.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from typing import Any

import ahocorasick

MASK = "***"
_MAX_KNOWN = 20_000  # secrets of this many tenants/integrations kept; oldest forgotten first
_MIN_LEN = 4  # shorter values would mask ordinary words

_PATTERNS = (
    (re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@"), rf"\g<1>{MASK}@"),
    (re.compile(r"(?i)\b(pwd|password|passwd)\s*=\s*(\{[^}]*\}|[^;&\s]*)"), rf"\g<1>={MASK}"),
    (re.compile(r"\b(ck|cs)_[A-Za-z0-9]{8,}"), rf"\g<1>_{MASK}"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), rf"\g<1> {MASK}"),
    (re.compile(r"(?i)(consumer_secret|consumer_key|oauth_signature|api_key|apikey|access_token|ws_key)=[^&\s]+"),
     rf"\g<1>={MASK}"),
)

_known: OrderedDict[str, None] = OrderedDict()
#: Registered since `_automaton` was built: matched one by one (a substring test each) until
#: there are `_FOLD_AFTER` of them, then folded into a new automaton. Building one is linear in
#: every secret known (~120 ms for 20,000), so it must not happen per registration: a hosted
#: worker meets 10,000 tenants' secrets one by one (BENCHMARKS.md §8: one regex of them all
#: took 0.3 s to recompile and 5 ms a log line at 10,000).
_recent: list[str] = []
_FOLD_AFTER = 256
_automaton: ahocorasick.Automaton | None = None
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a secret value so it is masked wherever it would be emitted."""
    if not value or len(value) < _MIN_LEN:
        return
    with _lock:
        if value in _known:
            _known.move_to_end(value)
            return
        _known[value] = None
        while len(_known) > _MAX_KNOWN:  # still masked until the next fold, then forgotten
            _known.popitem(last=False)
        _recent.append(value)


def _matchers() -> tuple[ahocorasick.Automaton | None, list[str]]:
    global _automaton
    with _lock:
        if len(_recent) > _FOLD_AFTER:
            automaton = ahocorasick.Automaton()
            for value in _known:
                automaton.add_word(value, len(value))
            automaton.make_automaton()
            _automaton = automaton  # never changed once published: threads read it freely
            _recent.clear()
        return _automaton, list(_recent)


def _mask_known(text: str, automaton: ahocorasick.Automaton | None, recent: list[str]) -> str:
    """Every stretch of text that is part of any known secret, masked: matches are collected
    from both sets first, so one secret containing another never leaves a piece of the longer
    one in clear."""
    spans = [] if automaton is None else [
        (end - length + 1, end + 1) for end, length in automaton.iter(text)]
    for value in recent:
        at = text.find(value)
        while at != -1:
            spans.append((at, at + len(value)))
            at = text.find(value, at + 1)
    if not spans:
        return text
    spans.sort()
    pieces: list[str] = []
    done = 0
    for start, end in spans:
        if start < done:  # overlaps the stretch just masked: widen it
            done = max(done, end)
            continue
        pieces += (text[done:start], MASK)
        done = end
    return "".join(pieces) + text[done:]


def redact(text: str) -> str:
    text = _mask_known(text, *_matchers())
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_obj(value: Any, _depth: int = 0) -> Any:
    """Redact every string inside dicts, lists and tuples (bounded depth)."""
    if _depth > 30:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_obj(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_obj(v, _depth + 1) for v in value)
    return value


def redact_record(record: logging.LogRecord) -> None:
    """Mask secrets in a record's message, traceback and stack, in place.

    The traceback is formatted here, once, and kept as `exc_text` (which every formatter
    reuses): a driver's exception message can hold a connection URL with its password, and
    a filter that only looked at `exc_text` would run before any formatter had set it.
    """
    try:
        message = record.getMessage()
    except Exception:  # a broken format string is not ours to crash on
        return
    clean = redact(message)
    if clean != message or record.args:
        record.msg, record.args = clean, None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in the final message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def install_log_redaction() -> None:
    """Mask secrets in every log record this process makes (idempotent).

    Two layers: a record factory, so every record is masked the moment it is made — whatever
    handler sees it later (one added after start-up, pytest's caplog, Sentry's breadcrumbs,
    dramatiq's pipe to its parent process); and a filter on the root logger's handlers, for
    records that other code builds without the factory (`logging.makeLogRecord`).
    """
    base = logging.getLogRecordFactory()
    if not getattr(base, "_iluo_redacting", False):
        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = base(*args, **kwargs)
            redact_record(record)
            return record

        factory._iluo_redacting = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(factory)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


#: Loggers that are too chatty at INFO. httpx logs every request line, query string included,
#: which for OAuth 1.0a over http carries the consumer key; alembic announces its plugins.
QUIET_LOGGERS = ("httpx", "httpcore", "alembic", "pika")


def quiet_libraries() -> None:
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
