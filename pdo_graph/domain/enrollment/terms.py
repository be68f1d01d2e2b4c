"""The money rule of a contract, pure: price, the certificate/family split, the monthly plan.

Nothing here reads the database: the same inputs give the same terms, so the quote, the
application under its locks and the property tests all run this one rule.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from pdo_graph.domain.money import add_months, month_start, months_between, percent_of, prorate, split_evenly


@dataclass(frozen=True, slots=True)
class MonthShare:
    """One month of a contract: what the certificate and the family pay for it."""

    month: date
    from_certificate: int
    from_family: int


@dataclass(frozen=True, slots=True)
class Terms:
    """The money of a (prospective) contract."""

    full_price: int  # the group's price for its whole run
    price: int  # the price of the months the contract covers
    from_certificate: int
    from_family: int
    first_month: date
    months: int
    months_total: int
    monthly: tuple[MonthShare, ...]

    @property
    def joins_running_group(self) -> bool:
        return self.months < self.months_total


def contract_span(
    starts_on: date,
    ends_on: date,
    today: date,
    period_starts: date | None = None,
    period_ends: date | None = None,
) -> tuple[date, int, int]:
    """(first month, months covered, months of the whole run).

    A group that has not started yet is joined from its first month; a running group from the
    current month (an ended group is clamped to its last month; it is closed anyway). A contract
    never outlives the period that funds it: with the period's dates, it covers only the group's
    months inside the period (from the period's first month at the earliest, to the earlier of the
    group's and the period's last month). Zero months: the group does not run in the period.
    """
    total = months_between(starts_on, ends_on)
    first = month_start(starts_on) if today <= starts_on else min(month_start(today), month_start(ends_on))
    last = month_start(ends_on)
    if period_starts is not None:
        first = max(first, month_start(period_starts))
    if period_ends is not None:
        last = min(last, month_start(period_ends))
    return first, max(0, months_between(first, last)), total


def contract_price(full_price: int, months: int, months_total: int) -> int:
    """price × months_left / months_total, rounded to kopecks (the whole price for a whole run)."""
    if months >= months_total:
        return full_price
    return prorate(full_price, months, months_total)


def certificate_part(price: int, available: int, cap: int | None) -> int:
    """What the certificate pays: min(price, available[, cap]); never negative."""
    part = min(price, available)
    if cap is not None:
        part = min(part, cap)
    return max(0, part)


def monthly_plan(first_month: date, months: int, from_certificate: int, from_family: int) -> tuple[MonthShare, ...]:
    """Both parts split over the months; the first month takes each part's rounding remainder."""
    cert = split_evenly(from_certificate, months)
    family = split_evenly(from_family, months)
    return tuple(MonthShare(add_months(first_month, i), cert[i], family[i]) for i in range(months))


def compute_terms(
    full_price: int,
    starts_on: date,
    ends_on: date,
    today: date,
    available: int,
    normative_cost: int | None,
    cap_at_normative: bool,
    period_starts: date | None = None,
    period_ends: date | None = None,
) -> Terms:
    first, months, total = contract_span(starts_on, ends_on, today, period_starts, period_ends)
    if months == 0:
        return Terms(full_price, 0, 0, 0, first, 0, total, ())
    price = contract_price(full_price, months, total)
    cap = contract_price(normative_cost, months, total) if cap_at_normative and normative_cost is not None else None
    from_certificate = certificate_part(price, available, cap)
    from_family = price - from_certificate
    return Terms(
        full_price=full_price,
        price=price,
        from_certificate=from_certificate,
        from_family=from_family,
        first_month=first,
        months=months,
        months_total=total,
        monthly=monthly_plan(first, months, from_certificate, from_family),
    )


def month_index(first_month: date, months: int, month: date) -> int | None:
    """Position of ``month`` in a contract, or None when it lies outside."""
    index = months_between(first_month, month) - 1
    return index if 0 <= index < months else None


def certificate_share(from_certificate: int, months: int, index: int) -> int:
    """The certificate's share of one month of a contract."""
    return split_evenly(from_certificate, months)[index]


def provision_amounts(share: int, completeness: int) -> tuple[int, int]:
    """(charged, released) for a month's share at a completeness in percent."""
    if not 0 <= completeness <= 100:
        raise ValueError("completeness is a percentage")
    charged = percent_of(share, completeness)
    return charged, share - charged


def reportable(month: date, today: date) -> bool:
    """Whether a month (its first day) may still be reported on ``today``: from its first day to the
    end of the following month (and, the contract being ACTIVE, while its period is open: a close
    ends the period's contracts)."""
    return month <= month_start(today) <= add_months(month, 1)


def request_hash(certificate_id: int, group_id: int) -> str:
    """What an idempotency key is bound to: the certificate and the group."""
    return hashlib.sha256(f"enrollmentCreate|{certificate_id}|{group_id}".encode()).hexdigest()
