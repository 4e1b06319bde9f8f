"""Wait for a month's input before a scheduled run loads it (the body of the sensor blocks).

A recurring schedule fires on a date and loads the month `source_lag_months` (default 2) before
it (utils/steps/run_month.py); the TLC publishes a month about two months after it ends, sometimes
later. So a scheduled run first waits for its month's input:

    the run was started by          the sensor
    a recurring schedule            asks every `source_poll_seconds` (default 600) whether the
                                    input exists; yes -> the run goes on; no -> asks again; after
                                    `source_wait_hours` (default 48) the run fails, naming what
                                    it waited for and how long (and the failure alert goes out)
    a backfill, Run@once, the API   does not wait: the run goes on at once and its loader fails
    trigger, `mage run`, the editor with the source's own error if the month is not there

A month after the end of a release that publishes no more (the course's copy stops at 2021-07)
fails at once, saying so: waiting for it would only fail 48 hours later.

Why backfills do not wait: a backfill names past months, which exist or never will; waiting
would hold one of the pipeline's run slots for nothing. A person who presses Run wants the
answer now. A schedule is the one case where the input is expected to arrive later.

The inputs: the release file (HTTP HEAD on its URL: 200 -> there, 404 -> not yet, any other
answer -> an error naming the URL and the status), or the month's parquet object in GCS.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from utils.domain.taxi_source import MonthRefusedError

log = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 600.0
DEFAULT_WAIT_HOURS = 48.0


class SourceNotPublishedError(TimeoutError):
    """The input did not appear before the sensor's timeout; the message names it."""


class SourceCheckError(RuntimeError):
    """The source answered something that is neither 'here' nor 'not yet'."""


@dataclass(frozen=True)
class Patience:
    poll_seconds: float = DEFAULT_POLL_SECONDS
    wait_seconds: float = DEFAULT_WAIT_HOURS * 3600

    @classmethod
    def from_vars(cls, variables: Mapping[str, Any]) -> Patience:
        poll = _positive(variables, 'source_poll_seconds', DEFAULT_POLL_SECONDS)
        hours = _positive(variables, 'source_wait_hours', DEFAULT_WAIT_HOURS)
        return cls(poll_seconds=poll, wait_seconds=hours * 3600)


def _positive(variables: Mapping[str, Any], name: str, default: float) -> float:
    value = variables.get(name)
    if value is None or value == '':
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not number > 0:
        raise ValueError(f'pipeline variable {name}={value!r} must be a number above 0')
    return number


def release_file_exists(url: str, timeout: float = 30) -> bool:
    """HEAD the month's release URL (following GitHub's redirect): 200 -> True, 404 -> False."""
    try:
        answer = requests.head(url, allow_redirects=True, timeout=(10, timeout))
    except requests.RequestException as e:
        raise SourceCheckError(f'HEAD {url} failed: {type(e).__name__}: {e}') from None
    if answer.status_code == 200:
        return True
    if answer.status_code == 404:
        return False
    raise SourceCheckError(
        f'HEAD {url} answered HTTP {answer.status_code} {answer.reason}: neither the file (200) '
        'nor "not published yet" (404); the sensor stops here rather than wait on a wrong answer'
    )


def wait_for(
    what: str,
    exists: Callable[[], bool],
    patience: Patience,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> float:
    """Call `exists` until it is True; return the seconds waited. After patience.wait_seconds,
    raise SourceNotPublishedError naming `what` and how long the sensor waited."""
    started = clock()
    checks = 0
    while True:
        checks += 1
        if exists():
            waited = clock() - started
            log.info('%s is there (after %d check(s), %.0f s)', what, checks, waited)
            return waited
        waited = clock() - started
        if waited + patience.poll_seconds > patience.wait_seconds:
            raise SourceNotPublishedError(
                f'{what} did not appear: waited {_duration(waited)} ({checks} checks, one every '
                f'{_duration(patience.poll_seconds)}), the limit is {_duration(patience.wait_seconds)} '
                '(pipeline variable source_wait_hours)'
            )
        log.info(
            '%s is not there yet; next check in %s (gives up after %s)',
            what,
            _duration(patience.poll_seconds),
            _duration(patience.wait_seconds),
        )
        sleep(patience.poll_seconds)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f'{seconds:.0f} s'
    if seconds < 7200:
        return f'{seconds / 60:.0f} min'
    return f'{seconds / 3600:.1f} h'


def _waits(variables: Mapping[str, Any]) -> bool:
    from utils.steps.run_month import run_started_by

    started_by = run_started_by(variables)
    if started_by != 'schedule':
        log.info("a run started by a %s does not wait for its month's input: going on", started_by)
        return False
    return True


def _sensor(wait: Callable[[Mapping[str, Any], Patience], None]) -> Callable[[Mapping[str, Any]], bool]:
    """A sensor block's body: wait only in a scheduled run (an error goes on the alert as every
    failed block's does: utils/steps/failures.py)."""

    def sensor(variables: Mapping[str, Any]) -> bool:
        if _waits(variables):
            wait(variables, Patience.from_vars(variables))
        return True

    return sensor


@_sensor
def wait_for_release_file(variables: Mapping[str, Any], patience: Patience) -> None:
    """The sensor of api_to_postgres and api_to_gcs: the month's file in the release."""
    from utils.sinks.environment import source_base_url
    from utils.steps.run_month import month_of_run

    month = month_of_run(variables)
    url = month.url(source_base_url(month.source))
    if month.after_release():
        raise SourceNotPublishedError(
            f'{month.label} will never be published at {url}: {month.published_range()}; '
            'the schedule has nothing to wait for'
        )
    if refused := month.refused():  # a month no release has, or one whose layout is not read
        raise MonthRefusedError(f'{refused}; the schedule has nothing to wait for')
    log.info(
        'waiting for %s (%s), published at %s',
        month.label,
        'the TLC release' if month.is_parquet else 'the course release',
        url,
    )
    wait_for(url, lambda: release_file_exists(url), patience)


@_sensor
def wait_for_gcs_month(variables: Mapping[str, Any], patience: Patience) -> None:
    """The sensor of gcs_to_bigquery: the month's parquet object that api_to_gcs writes."""
    from utils.sinks import gcs_io
    from utils.sinks.environment import google_target, storage_client
    from utils.steps.run_month import month_of_run

    bucket = gcs_io.open_bucket(storage_client(), google_target().bucket)
    name = gcs_io.monthly_object(month_of_run(variables))
    wait_for(f'gs://{bucket.name}/{name}', lambda: bucket.blob(name).exists(), patience)
