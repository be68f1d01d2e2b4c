"""The clock of the service: what time and what day it is, in a municipality's time zone.

Everything that asks "what day is it" outside a request's own ``today`` (the transport's context,
the background passes, ``pdo-graph demo-year``) reads it here, so tests and the simulated year move
time by replacing the clock (:func:`use`) instead of sleeping. Nothing here knows the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

DEFAULT_TIME_ZONE = "Europe/Moscow"


class Clock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock(Clock):
    """A clock that stands still until moved (tests, the simulated year)."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("a fixed clock needs an aware datetime")
        self.at = at

    @classmethod
    def on(cls, day: date, tz: str = DEFAULT_TIME_ZONE, hour: int = 12) -> FixedClock:
        """Noon (or ``hour``) of ``day`` in ``tz``."""
        return cls(datetime.combine(day, time(hour), zone(tz)))

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)

    def set_day(self, day: date, tz: str = DEFAULT_TIME_ZONE, hour: int = 12) -> None:
        self.at = datetime.combine(day, time(hour), zone(tz))


_current: list[Clock] = [Clock()]


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def now() -> datetime:
    """The current instant (aware, UTC unless a fixed clock says otherwise)."""
    return _current[-1].now()


def today(tz: str = DEFAULT_TIME_ZONE) -> date:
    """The current day in the time zone ``tz``."""
    return now().astimezone(zone(tz)).date()


@contextmanager
def use(clock: Clock) -> Iterator[Clock]:
    """Let ``clock`` tell the time inside the block (for the whole process)."""
    _current.append(clock)
    try:
        yield clock
    finally:
        _current.remove(clock)
