"""Helpers shared by the commands: the registry, JSON output, user errors as exit code 2."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import orjson
import typer

from shared.control.registry import Registry
from shared.errors import UserError
from shared.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn a UserError into one stderr line and exit 2 (typer does not know our errors)."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except UserError as exc:
            typer.echo(f"iluo-sync: {exc}", err=True)
            raise typer.Exit(2) from None

    return wrapper


@contextmanager
def registry() -> Iterator[Registry]:
    reg = Registry(Settings())  # read the environment at each command, not once per process
    try:
        yield reg
    finally:
        reg.close()


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError


def print_json(data: Any) -> None:
    sys.stdout.write(
        orjson.dumps(
            data, default=_default, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS
        ).decode()
        + "\n"
    )


def fmt_time(value: datetime | str | None) -> str:
    """A time for a table; history rows arrive as ISO text (`2026-01-02T03:04:05Z`)."""
    if isinstance(value, str):
        return value.replace("T", " ").removesuffix("Z")[:19] or "-"
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"
