"""What the security tests share: the hypothesis profile and hostile values."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

settings.register_profile(
    "security",
    derandomize=True,  # the same examples on every run: CI failures reproduce
    database=None,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)
settings.register_profile("security-deep", parent=settings.get_profile("security"),
                          derandomize=False, max_examples=2000)
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE_SECURITY", "security"))


def hostile(max_examples: int | None = None) -> settings:
    """The decorator of every property test here (a per-test example budget on top)."""
    if max_examples is None or PROFILE.max_examples > 60:
        return settings(PROFILE)
    return settings(PROFILE, max_examples=max_examples)


# -- hostile values ---------------------------------------------------------------------------

#: Numbers as shops send them when something is wrong: absurd, signed zero, not numbers.
NUMBER_TEXTS = [
    "1e30", "-1e30", "1E+400", "1e-400", "NaN", "nan", "-NaN", "sNaN", "Infinity", "-inf",
    "-0", "-0.00", "0", "-1", "-0.01", "99999999999.99", "10000000000", "1e12", "0.001",
    "12,50", " 12.30 ", "1_000", "12.30.1", "", " ", "0x10", "١٢", "²", "12\x00", "1/2",
    "9" * 400, "1e999999999", "+5", ".5", "5.",
]
#: Dates without a zone, in the wrong format, out of range, or not dates at all.
DATE_TEXTS = [
    "2024-05-01", "2024-05-01 10:00:00", "2024-05-01T10:00:00", "2024-05-01T10:00:00Z",
    "2024-05-01T10:00:00+14:00", "2024-05-01T10:00:00-12:00", "0000-00-00 00:00:00",
    "0001-01-01 00:00:00", "0001-01-01T00:00:00+01:00", "9999-12-31 23:59:59",
    "9999-12-31T23:59:59-01:00", "2024-13-45 99:99:99", "2024-02-30 10:00:00", "01.05.2024",
    "05/01/2024 10:00", "1714557600", "yesterday", "", "2024-10-27 02:30:00",
    "2024-03-31 02:30:00", "2024-05-01 10:00:00.123456789", "2024-05-01\x0010:00:00",
]
#: Strings that hurt: huge, control characters, quotes, unpaired surrogates are left out
#: (they cannot arrive: the HTTP layer refuses invalid UTF-8), RTL marks, emoji, NUL.
TEXTS = [
    "", " ", "\x00", "a\x00b", "\t\r\n", "'; DROP TABLE products; --", '"\\', "ż" * 300,
    "🦄" * 70, "\u202e" + "gnp.exe", "x" * 5000, "<script>alert(1)</script>", "%s%n%x",
    "${jndi:ldap://x}", "\ufeff", "\x1b[31m",
]

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(NUMBER_TEXTS),
    st.sampled_from(DATE_TEXTS), st.sampled_from(TEXTS), st.text(max_size=30),
)
#: Any JSON value orjson could hand us, nesting included.
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=12,
)


def deep(levels: int) -> Any:
    """A list nested `levels` deep (what a hostile shop sends to blow the stack)."""
    value: Any = []
    for _ in range(levels):
        value = [value]
    return value


@st.composite
def mutated(draw: st.DrawFn, payload: Any, *, max_changes: int = 3) -> Any:
    """`payload` (a valid item) with a few hostile edits: a field removed, replaced with a
    hostile value of another type, or an extra field added — at any depth."""
    import copy

    value = copy.deepcopy(payload)
    for _ in range(draw(st.integers(min_value=1, max_value=max_changes))):
        paths = list(_paths(value))
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add"]))
        value = _edit(value, path, action, draw)
    return value


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Any:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


def _edit(root: Any, path: tuple[Any, ...], action: str, draw: st.DrawFn) -> Any:
    if not path:
        return draw(json_values) if action == "replace" else root
    parent = root
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if action == "delete":
        if isinstance(parent, dict):
            del parent[last]
        else:
            parent.pop(last)
    elif action == "add" and isinstance(parent, dict):
        parent[draw(st.text(max_size=12))] = draw(json_values)
    else:
        parent[last] = draw(json_values)
    return root
