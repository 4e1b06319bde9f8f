"""Is a month like its neighbours? What a load is compared on, and by what rule.

A month that loaded is compared with the same service's nearest loaded months (its neighbours,
before and after it, from the audit trail) on three figures:

    rows read               far fewer or far more than any neighbour read: below the fewest
                            divided by `unusual_rows_ratio`, or above the most times it (3)
    share kept              the rows the cleaning kept, of those read: more than
                            `unusual_share_points` (20) percentage points outside the
                            neighbours' range
    share without zones     of the rows kept, those with a pickup or dropoff zone missing or
                            Unknown (utils/domain/cleaning.py): as above

A month with a tenth of its neighbours' rows, or 90 % dropped where they drop 5 %, is far outside;
one a little under or over its neighbours is not. With fewer than MIN_NEIGHBOURS months to compare
with, nothing is said: the first months of a service have no neighbours yet. The thresholds are
pipeline variables (docs/pipelines.md); utils/steps/month_check.py reads the neighbours, warns,
alerts and records the month for the dashboard.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

MIN_NEIGHBOURS = 3


@dataclass(frozen=True)
class MonthCounts:
    """A month's figures as its load recorded them."""

    month: date
    rows_read: int
    rows_kept: int
    rows_without_zones: int | None = None  # unknown for a load recorded before it was counted

    @property
    def share_kept(self) -> float | None:
        return 100 * self.rows_kept / self.rows_read if self.rows_read else None

    @property
    def share_without_zones(self) -> float | None:
        if self.rows_without_zones is None or not self.rows_kept:
            return None
        return 100 * self.rows_without_zones / self.rows_kept


@dataclass(frozen=True)
class Thresholds:
    rows_ratio: float = 3.0  # unusual_rows_ratio
    share_points: float = 20.0  # unusual_share_points
    neighbours: int = 6  # unusual_neighbours: how many of the nearest months it is compared with

    @classmethod
    def from_vars(cls, variables: Mapping[str, Any]) -> Thresholds:
        """The thresholds of the pipeline variables, each checked (a bad one names itself)."""
        default = cls()

        def number(name: str, fallback: float, low: float, high: float) -> float:
            value = variables.get(name)
            if value is None or value == '':
                return fallback
            try:
                got = float(str(value).strip())
            except ValueError:
                got = float('nan')
            if not low <= got <= high:
                raise ValueError(f'pipeline variable {name}={value!r} must be a number from {low:g} to {high:g}')
            return got

        neighbours = float(number('unusual_neighbours', default.neighbours, MIN_NEIGHBOURS, 60))
        if not neighbours.is_integer():
            raise ValueError(
                f'pipeline variable unusual_neighbours={variables.get("unusual_neighbours")!r} is not whole'
            )
        return cls(
            rows_ratio=number('unusual_rows_ratio', default.rows_ratio, 1, 1000),
            share_points=number('unusual_share_points', default.share_points, 0, 100),
            neighbours=int(neighbours),
        )


def month_distance(a: date, b: date) -> int:
    return abs((a.year * 12 + a.month) - (b.year * 12 + b.month))


def nearest(month: date, others: Sequence[MonthCounts], count: int) -> list[MonthCounts]:
    """The `count` months nearest to `month` (the earlier first when two are as near), in order."""
    chosen = sorted((m for m in others if m.month != month), key=lambda m: (month_distance(m.month, month), m.month))
    return sorted(chosen[:count], key=lambda m: m.month)


def _span(values: Sequence[float], unit: str) -> str:
    low, high = min(values), max(values)
    return f'{low:,.0f}{unit}' if round(low) == round(high) else f'{low:,.0f}..{high:,.0f}{unit}'


def findings(month: MonthCounts, neighbours: Sequence[MonthCounts], thresholds: Thresholds) -> list[str]:
    """What is far outside the neighbours' range, one sentence each; [] when the month is like
    them, or when there are fewer than MIN_NEIGHBOURS to compare with."""
    if len(neighbours) < MIN_NEIGHBOURS:
        return []
    found = []
    read = [n.rows_read for n in neighbours]
    ratio = thresholds.rows_ratio
    if month.rows_read < min(read) / ratio or month.rows_read > max(read) * ratio:
        side = (
            f'under 1/{ratio:g} of the fewest' if month.rows_read < min(read) / ratio else f'over {ratio:g}x the most'
        )
        found.append(
            f'{month.rows_read:,} rows read where its {len(neighbours)} neighbours read {_span(read, "")} '
            f'({side}: unusual_rows_ratio {ratio:g})'
        )
    for what, of in (('kept', 'share_kept'), ('without zones', 'share_without_zones')):
        share = getattr(month, of)
        theirs = [v for n in neighbours if (v := getattr(n, of)) is not None]
        if share is None or len(theirs) < MIN_NEIGHBOURS:
            continue
        points = thresholds.share_points
        if share < min(theirs) - points or share > max(theirs) + points:
            found.append(
                f'{share:.0f} % of its rows {what} where its neighbours had {_span(theirs, " %")} '
                f'(more than {points:g} points outside: unusual_share_points {points:g})'
            )
    return found
