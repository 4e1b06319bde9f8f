"""Progress lines for long transfers: a full month's download or COPY says how far it got at
least every few seconds (the setting TAXI_PROGRESS_SECONDS, read by utils/sinks/environment.py:
the domain reads no environment), so a block log never goes quiet for long."""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)
PROGRESS_SECONDS = 5.0  # TAXI_PROGRESS_SECONDS's default (docs/settings.md)


def plural(n: int, word: str) -> str:
    """'1 month', '3 months': the counts a person reads in logs and tools' output."""
    return f'{n:,} {word}' + ('' if n == 1 else 's')


class Progress:
    """`add(n)` after each chunk; logs '<what>: 12.3 MB of 25.0 MB (49 %) after 5.0 s' when the
    interval has passed since the last line."""

    def __init__(self, what: str, total_bytes: int | None = None, every: float = PROGRESS_SECONDS):
        self.what = what
        self.total = total_bytes or None
        self.every = every
        self.done = 0
        self.started = self.last = time.monotonic()

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            of = f' of {self.total / 1e6:.1f} MB ({100 * self.done / self.total:.0f} %)' if self.total else ''
            log.info('%s: %.1f MB%s after %.1f s', self.what, self.done / 1e6, of, now - self.started)
