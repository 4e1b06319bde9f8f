"""One load of a target month at a time: a PostgreSQL advisory lock per (target, month).

Two runs of the same month at once (a backfill overlapping a manual trigger, Run@once clicked
twice) would share the month's staging table or its GCS objects. Each export step holds this
lock while it replaces the month, so the second run waits, then replaces the month again with
the same rows: one copy in the end, and no run fails. Other months, or other targets, never
wait. PostgreSQL is the project's operational store, so the GCS and BigQuery loads take their
lock there too. The lock is a session lock on a connection of its own: it goes when the step
ends, or when its process dies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import psycopg2

from utils.sinks.environment import postgres_connection

log = logging.getLogger(__name__)

WAIT_LIMIT = '30min'  # a run that holds a month longer than this is stuck, not slow


@contextmanager
def month_locked(target: str, month: date) -> Iterator[None]:
    """Hold the lock of `target` (e.g. 'postgres:ny_taxi.green_taxi_data') for `month`."""
    with locked(target, month.year * 100 + month.month, f' for {month:%Y-%m}'):
        yield


@contextmanager
def locked(target: str, part: int = 0, what: str = '') -> Iterator[None]:
    """Hold the lock of (target, part): a whole target when part is 0 (e.g. the homework's
    table, replaced whole by each run). `what` ends the log lines (' for 2020-10')."""
    key = (target, part)
    with postgres_connection() as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute('SELECT pg_try_advisory_lock(hashtext(%s), %s)', key)
            if not cur.fetchone()[0]:
                log.info('another run is loading %s%s: waiting for it to finish', target, what)
                started = time.monotonic()
                cur.execute(f"SET lock_timeout = '{WAIT_LIMIT}'")
                try:
                    cur.execute('SELECT pg_advisory_lock(hashtext(%s), %s)', key)
                except psycopg2.errors.LockNotAvailable:
                    raise TimeoutError(
                        f'another run has been loading {target}{what} for more than '
                        f'{WAIT_LIMIT}: see its run in the Mage UI, or end it, then run again'
                    ) from None
                log.info('waited %.1f s for %s%s', time.monotonic() - started, target, what)
        yield  # closing the connection releases the lock
