"""Masking known secrets as a hosted worker meets them, against one regex of them all.

    .venv/bin/python bench/bench_redact.py [--sizes 1000 10000 20000] [--warmup 1000] [--json]

A hosted worker learns its tenants' secrets one by one (a database password, shop keys, tokens
that rotate) and masks every log line against all of them (shared.redact). Measured side by
side in one run, on the same secrets and the same log line:
- regex:     one alternation of every known secret, recompiled after each new secret (how
             shared.redact matched them until 2026-12-07; re-built here as the reference);
- automaton: shared.redact's matching of known secrets (an Aho-Corasick automaton, the newest
             few hundred secrets checked one by one until folded in); the credential-shaped
             patterns both would apply alike are left out of both.
Per size N: the cost of a log line with N secrets known, and the cost a new secret brings (the
regex recompiles every time; the automaton folds 256 at a time, shown amortised). Then a whole
warm-up: `--warmup` secrets met one by one with a log line after each, both ways.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import time
from collections.abc import Callable
from typing import Any

from shared import redact as masking

LINE = ("tenant shop-{n}: import_orders ok in 0.42 s (3 orders, 0 kept) from "
        "https://shop.example/wp-json/wc/v3/orders?page=2&per_page=100 as consumer {key}")


class RegexMask:
    """The reference: every known secret in one regex, recompiled when one is added."""

    def __init__(self) -> None:
        self.known: list[str] = []
        self.pattern: re.Pattern[str] | None = None

    def register(self, value: str) -> None:
        self.known.append(value)
        self.pattern = None

    def redact(self, text: str) -> str:
        if self.pattern is None:
            alternatives = sorted(self.known, key=len, reverse=True)
            self.pattern = re.compile("|".join(re.escape(v) for v in alternatives))
        return self.pattern.sub(masking.MASK, text)


class AutomatonMask:
    """shared.redact, started afresh."""

    def __init__(self) -> None:
        masking._known.clear()
        masking._recent.clear()
        masking._automaton = None

    def register(self, value: str) -> None:
        masking.register_secret(value)

    def redact(self, text: str) -> str:
        return masking._mask_known(text, *masking._matchers())  # known secrets only, as above


def keys(count: int) -> list[str]:
    """What a tenant brings: WooCommerce keys, a database password, an OAuth token."""
    makers = (lambda: f"ck_{secrets.token_hex(20)}", lambda: f"cs_{secrets.token_hex(20)}",
              lambda: secrets.token_urlsafe(12), lambda: secrets.token_urlsafe(48))
    return [makers[n % len(makers)]() for n in range(count)]


def cpu(fn: Callable[[], Any]) -> float:
    started = time.process_time()
    fn()
    return time.process_time() - started


def per_line_us(mask: RegexMask | AutomatonMask, values: list[str], lines: int = 2000) -> float:
    text = LINE.format(n=7, key="ck_not-a-known-one")
    mask.redact(text)  # built
    return cpu(lambda: [mask.redact(text) for _ in range(lines)]) / lines * 1e6


def at_size(size: int) -> dict[str, Any]:
    values = keys(size + masking._FOLD_AFTER + 1)
    known, extra = values[:size], values[size:]
    row: dict[str, Any] = {"secrets": size}
    regex = RegexMask()
    for value in known:
        regex.register(value)
    row["regex_line_us"] = per_line_us(regex, known)
    regex.register(extra[0])
    row["regex_new_secret_ms"] = cpu(lambda: regex.redact("x")) * 1000  # one recompile
    automaton = AutomatonMask()
    for value in known:
        automaton.register(value)
    automaton.redact("x")  # more than a batch arrived: folded into the automaton
    row["automaton_line_us"] = per_line_us(automaton, known)
    for value in extra:  # a whole batch arriving: one fold
        automaton.register(value)
    fold = cpu(lambda: automaton.redact("x"))
    row["automaton_new_secret_ms"] = fold * 1000 / len(extra)
    row["line_ratio"] = row["regex_line_us"] / row["automaton_line_us"]
    row["new_secret_ratio"] = row["regex_new_secret_ms"] / row["automaton_new_secret_ms"]
    text = LINE.format(n=1, key=known[size // 2])
    assert masking.MASK in regex.redact(text) and masking.MASK in automaton.redact(text)
    return row


def warmup(count: int) -> dict[str, Any]:
    values = keys(count)

    def meet(mask: RegexMask | AutomatonMask) -> None:
        for n, value in enumerate(values):
            mask.register(value)
            mask.redact(LINE.format(n=n, key=value))

    regex_s = cpu(lambda: meet(RegexMask()))
    automaton_s = cpu(lambda: meet(AutomatonMask()))
    return {"secrets": count, "regex_s": regex_s, "automaton_s": automaton_s,
            "ratio": regex_s / automaton_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 20000])
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [at_size(size) for size in args.sizes]
    whole = warmup(args.warmup)
    if args.json:
        print(json.dumps({"sizes": rows, "warmup": whole}, indent=2))
        return
    print("| secrets known | a log line: regex / automaton | ratio | a new secret: regex "
          "(recompile) / automaton (fold, per secret) | ratio |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['secrets']:,} | {row['regex_line_us']:,.1f} / "
              f"{row['automaton_line_us']:.1f} µs | {row['line_ratio']:,.0f}× | "
              f"{row['regex_new_secret_ms']:.1f} / {row['automaton_new_secret_ms']:.3f} ms | "
              f"{row['new_secret_ratio']:,.0f}× |")
    print(f"\nwarm-up, {whole['secrets']:,} secrets met one by one with a log line each: "
          f"regex {whole['regex_s']:.2f} s, automaton {whole['automaton_s']:.3f} s CPU "
          f"({whole['ratio']:,.0f}×)")


if __name__ == "__main__":
    main()
