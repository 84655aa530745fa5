"""Cron expressions as iii writes them: six fields with seconds first (`sec min hour dom month
dow`), or seven with a year, as the Rust `cron` crate that iii uses reads them.

`CronSchedule(expr).ticks(after_ms, until_ms)` lists the ticks in a window; a tick is named by its
scheduled time, which is what makes one tick fire once across a cluster (processors/cron.py).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from croniter import croniter

__all__ = ["CronExpressionError", "CronSchedule"]

_DAY_NUMBER = re.compile(r"(?<![/\w])(\d+)")  # a day number, not a step (`*/2`) or part of a name

MAX_TICKS = 10_000  # a window holding more ticks than this is cut (a once-a-second job over ~3 h)


class CronExpressionError(ValueError):
    """An expression that is not six or seven cron fields with seconds first."""


class CronSchedule:
    def __init__(self, expression: str) -> None:
        if not isinstance(expression, str):
            raise CronExpressionError(f"expression must be a string, got {type(expression).__name__}")
        fields = expression.split()
        if len(fields) not in (6, 7):
            raise CronExpressionError(
                f"expression {expression!r} has {len(fields)} field(s); iii's cron takes 6 (sec min hour "
                "day-of-month month day-of-week) or 7 (with year), seconds first, e.g. '0 */5 * * * *'")
        self.expression = expression
        fields[5] = _days_from_zero(fields[5])
        self._fields = fields
        try:
            self._iterator(0)
        except (ValueError, KeyError) as exc:  # croniter's errors derive from ValueError
            raise CronExpressionError(f"expression {expression!r} is not valid: {exc}") from None

    def _iterator(self, start_ms: int) -> croniter:
        start = datetime.fromtimestamp(start_ms / 1000, tz=timezone.utc)
        if len(self._fields) == 6:
            return croniter(" ".join(self._fields), start, second_at_beginning=True)
        # croniter's seven fields are `min hour dom month dow sec year`
        sec, minute, hour, dom, month, dow, year = self._fields
        return croniter(" ".join((minute, hour, dom, month, dow, sec, year)), start)

    def next_after(self, after_ms: int) -> int:
        """The first tick strictly after `after_ms` (ms since the epoch, UTC)."""
        return int(round(self._iterator(after_ms).get_next(float) * 1000))

    def ticks(self, after_ms: int, until_ms: int) -> list[int]:
        """The ticks in `(after_ms, until_ms]`, oldest first, at most MAX_TICKS of them."""
        found: list[int] = []
        iterator = self._iterator(after_ms)
        while len(found) < MAX_TICKS:
            tick = int(round(iterator.get_next(float) * 1000))
            if tick > until_ms:
                break
            found.append(tick)
        return found


def _days_from_zero(field: str) -> str:
    """iii's crate numbers the days of the week 1-7 from Sunday (SUN = 1); croniter 0-6."""
    def shift(match: re.Match) -> str:
        day = int(match.group(1))
        if not 1 <= day <= 7:
            raise CronExpressionError(f"day of week {day} is out of range: iii's cron numbers them 1-7 "
                                      "from Sunday (or use SUN-SAT)")
        return str(day - 1)
    return _DAY_NUMBER.sub(shift, field)
