"""How big or small a number from a shop may be before we call it garbage.

Every mapper reads prices, quantities and rates as Decimal, then multiplies, divides and
rounds them (`quantize`). Decimal's default context keeps 28 digits: a "1e30" price or a
"1e-400" quantity makes `quantize` raise InvalidOperation — an exception no mapper expects —
and "NaN" makes every comparison raise. So a mapper refuses any number that is not finite or
lies outside [1e-9, 1e15) (zero aside) as an item error, before doing arithmetic with it.
The ERP's columns are far narrower (numeric(12,2) holds < 1e10); whether a plausible value
fits them is the operations' check (workers.operations.fits).
"""

from __future__ import annotations

from decimal import Decimal

#: Nothing a shop sells costs, weighs or counts this much (and the ERP could not store it).
MAX_MAGNITUDE = Decimal("1e15")
#: Below this a non-zero number is noise (PrestaShop keeps six decimals; 1e-9 is far finer).
MIN_MAGNITUDE = Decimal("1e-9")


def plausible(number: Decimal) -> bool:
    """Finite, and zero or within [MIN_MAGNITUDE, MAX_MAGNITUDE) in absolute value."""
    if not number.is_finite():
        return False
    # copy_abs, not abs(): abs() rounds to the context and raises Overflow on "1e999999999".
    return number.is_zero() or MIN_MAGNITUDE <= number.copy_abs() < MAX_MAGNITUDE
