"""Money is integer kopecks. Formatting, proration and the monthly split live here."""

from __future__ import annotations

from datetime import date

CURRENCY = "RUB"
MAX_PRICE_KOPECKS = 100_000_000  # 1 000 000 ₽ for one group run: a sane upper bound
FIRST_YEAR, LAST_YEAR = 2000, 2100  # dates of periods, groups and reports fall in these years


def in_service_years(d: date) -> bool:
    """Whether a date of a period, a group or a report is plausible (years 2000-2100)."""
    return FIRST_YEAR <= d.year <= LAST_YEAR


def format_amount(kopecks: int) -> str:
    """12345 -> "123.45" (a decimal string with two places)."""
    sign = "-" if kopecks < 0 else ""
    whole, frac = divmod(abs(kopecks), 100)
    return f"{sign}{whole}.{frac:02d}"


def month_start(d: date) -> date:
    return d.replace(day=1)


def add_months(d: date, n: int) -> date:
    y, m = divmod(d.month - 1 + n, 12)
    return date(d.year + y, m + 1, 1)


def months_between(first: date, last: date) -> int:
    """Calendar months touched from ``first`` to ``last`` inclusive (both dates in them)."""
    return (last.year - first.year) * 12 + (last.month - first.month) + 1


def prorate(amount: int, part: int, whole: int) -> int:
    """round(amount * part / whole) in integers, halves rounded up."""
    if whole <= 0:
        raise ValueError("whole must be positive")
    return (2 * amount * part + whole) // (2 * whole)


def split_evenly(total: int, parts: int) -> list[int]:
    """Split ``total`` into ``parts`` equal shares; the first share takes the remainder."""
    if parts <= 0:
        raise ValueError("parts must be positive")
    base, rest = divmod(total, parts)
    return [base + rest] + [base] * (parts - 1)


def percent_of(amount: int, percent: int) -> int:
    """round(amount * percent / 100), halves rounded up."""
    return prorate(amount, percent, 100)
