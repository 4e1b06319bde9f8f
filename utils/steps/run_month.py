"""Which month a run loads: the one its variables name, or the one Mage ran it for.

    the run was started by                                  it loads
    a person: Run@once, the API trigger, `mage run`         the variables `year`, `month`
                                                            (pipeline defaults: 2021-01)
    a backfill                                              the month of its execution_date
    `mage run --runtime-vars '{"execution_date": "2020-11-01"}'`   the month of that date
    a recurring schedule                                    the month `source_lag_months`
                                                            (default 2) before its execution_date

A schedule loads an older month than its date because a month is published after it ends: the
TLC publishes a month about two months later, so the run of 2026-12-01 loads 2026-10, the newest
month it can expect to find (its sensor waits for it if it is late).

Mage merges the pipeline's default variables into every run, backfill runs too, so whether
`year` and `month` are present says nothing. What the run is says it: Mage's database knows
whether a run belongs to a backfill or to a schedule that recurs, and only those (or a person
passing execution_date by hand) take the month from the date. Dates are read in UTC.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any

from utils.domain.progress import plural
from utils.domain.taxi_source import TaxiMonth
from utils.sinks.environment import default_source

DEFAULT_SOURCE_LAG_MONTHS = 2

log = logging.getLogger(__name__)


def parse_execution_date(value: Any) -> date:
    """The date of an execution_date: a datetime (Mage's scheduled runs), a date, or an ISO
    8601 string (`--runtime-vars`, the API). Aware datetimes are read in UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace('Z', '+00:00'))
        except ValueError:
            raise ValueError(
                f'pipeline variable execution_date={value!r} is not a date '
                '(ISO 8601, e.g. 2020-10-01 or 2020-10-01T00:00:00+00:00)'
            ) from None
    if isinstance(value, datetime):
        return (value.astimezone(timezone.utc) if value.tzinfo else value).date()
    if isinstance(value, date):
        return value
    raise ValueError(f'pipeline variable execution_date={value!r} is not a date')


def run_started_by(variables: Mapping[str, Any]) -> str:
    """'backfill', 'schedule' (a recurring schedule's run) or 'person' (Run@once, the API
    trigger, `mage run`, the editor), asked of Mage's database by the run id Mage passes."""
    run_id = variables.get('pipeline_run_id')
    if run_id is None:
        return 'person'
    from utils.mage_runs import run_record

    run = run_record(int(run_id))
    return started_by_of(run.backfill_id, run.schedule_type, run.schedule_interval)


def started_by_of(backfill_id: Any, schedule_type: Any, schedule_interval: Any) -> str:
    """'backfill', 'schedule' (a trigger that recurs) or 'person', from a Mage run's backfill and
    trigger (Mage's enums compare equal to their values)."""
    if backfill_id is not None:
        return 'backfill'
    if schedule_type == 'time' and schedule_interval not in (None, '@once'):
        return 'schedule'
    return 'person'


def months_before(day: date, lag: int) -> tuple[int, int]:
    """(year, month) of the month `lag` months before `day`'s."""
    index = day.year * 12 + day.month - 1 - lag
    return index // 12, index % 12 + 1


def label_of_run(variables: Mapping[str, Any], execution_date: Any, started_by: str) -> str:
    """What a run loads, in a few words for Mage's run list and alerts: `yellow 2021-01` (the month
    of a backfill's or a schedule's date, as month_of_run picks it; else the variables'), the
    homework's `green 2020-10,11,12`; the service alone for a run that names no month; '' for a run
    that names no service. Never raises: a run with
    bad variables is labelled with them as they are (it fails, saying why, when it runs)."""
    service, year = variables.get('service'), variables.get('year')
    if variables.get('months') is not None and service is None:  # the homework: green, a list of months
        months = variables['months']
        months = ','.join(f'{int(m):02d}' for m in months) if isinstance(months, (list, tuple)) else str(months)
        return f'green {year}-{months}'
    if not service:
        return ''
    if (
        year is None
        and variables.get('month') is None
        and not (started_by in ('backfill', 'schedule') and execution_date)
    ):
        return str(service)  # a pipeline of a service, not of a month (partitioned_to_bigquery)
    try:
        if started_by in ('backfill', 'schedule') and execution_date:
            year, month = year_and_month(variables, started_by, execution_date)
            return f'{service} {year}-{month:02d}'
        return f'{service} {int(str(year))}-{int(str(variables.get("month"))):02d}'
    except (TypeError, ValueError):
        return f'{service} {year}-{variables.get("month")}'


def run_is_date_driven(variables: Mapping[str, Any]) -> bool:
    """True for a Mage backfill run or a recurring schedule's run, or a run given execution_date
    by hand (no run id: `mage run`); not for a block run in the editor."""
    return _started_by_date(variables) is not None


def _started_by_date(variables: Mapping[str, Any]) -> str | None:
    """'schedule', 'backfill' or 'date' (a date given by hand) for a run whose month comes from its
    execution_date; None for one whose month the variables name."""
    if variables.get('pipeline_run_id') is None:
        # Only a date a person wrote (`--runtime-vars` gives a string). Mage's editor runs a block
        # with execution_date=datetime.now() when nobody gave one (server/websocket_server.py):
        # that names no month, so the editor loads the variables' month, as the course's does.
        given = variables.get('execution_date')
        return 'date' if isinstance(given, str) and given.strip() != '' else None
    started_by = run_started_by(variables)
    return started_by if started_by in ('backfill', 'schedule') else None


def source_lag_months(variables: Mapping[str, Any]) -> int:
    value = variables.get('source_lag_months')
    if value is None or value == '':
        return DEFAULT_SOURCE_LAG_MONTHS
    try:
        lag = int(str(value).strip())
    except ValueError:
        lag = -1
    if not 0 <= lag <= 120:
        raise ValueError(f'pipeline variable source_lag_months={value!r} must be a whole number from 0 to 120')
    return lag


def year_and_month(variables: Mapping[str, Any], started_by: str | None, execution_date: Any = None) -> tuple[Any, Any]:
    """The one answer to "which month does this run load", as (year, month), the rule of the
    module's docstring: a run started by 'backfill', 'schedule' or 'date' (a date given by hand)
    loads the month of its execution_date (the variable, unless given), a schedule's
    `source_lag_months` before it; any other run the variables' `year` and `month`, as they are
    (TaxiMonth.from_vars checks them). month_of_run (the loads, the marts'
    check_source_month), label_of_run and a failed run's audit row all ask here."""
    if started_by in ('backfill', 'schedule', 'date'):
        day = parse_execution_date(variables.get('execution_date') if execution_date is None else execution_date)
        return months_before(day, source_lag_months(variables) if started_by == 'schedule' else 0)
    return variables.get('year'), variables.get('month')


def month_of_run(
    variables: Mapping[str, Any],
    date_driven: bool | None = None,
    started_by: str | None = None,
    *,
    quiet: bool = False,
) -> TaxiMonth:
    """The service and month this run loads (year_and_month), logged with why unless `quiet`.
    `date_driven`/`started_by` (tests, callers that know): skip asking Mage's database."""
    if date_driven is None and started_by is None:
        started_by = _started_by_date(variables)
    elif started_by is None:
        started_by = 'date' if date_driven else None
    year, month_number = year_and_month(variables, started_by)
    month = TaxiMonth.from_vars({**variables, 'year': year, 'month': month_number}, default_source())
    if quiet:
        return month
    if started_by is None:
        log.info('loading %s, named by the variables year and month', month.label)
        return month
    day = parse_execution_date(variables.get('execution_date'))
    lag = source_lag_months(variables) if started_by == 'schedule' else 0
    if lag:
        log.info(
            "loading %s, %s before the month of the schedule's execution_date %s "
            '(source_lag_months: a month is published after it ends)',
            month.label,
            plural(lag, 'month'),
            day.isoformat(),
        )
    else:
        log.info("loading %s, the month of the run's execution_date %s", month.label, day.isoformat())
    return month


def _flag(variables: Mapping[str, Any], name: str) -> bool | None:
    value = variables.get(name)
    if value is None or value == '':
        return None
    text = str(value).strip().lower()
    if text in ('true', '1', 'yes'):
        return True
    if text in ('false', '0', 'no'):
        return False
    raise ValueError(f'pipeline variable {name}={value!r} is not true or false')


def skips_unchanged(variables: Mapping[str, Any]) -> bool:
    """Whether the run skips a month whose source file has not changed since the pipeline's last
    completed load of it: yes for a backfill's or a schedule's run (a backfill of a loaded year
    takes seconds), no for a run a person starts (Run@once, the API, `mage run`: it loads what
    it is asked), unless the variable `force` says otherwise (force=true: always load)."""
    force = _flag(variables, 'force')
    if force is not None:
        return not force
    return variables.get('pipeline_run_id') is not None and _started_by_date(variables) in ('backfill', 'schedule')


def run_completed(run_id: int) -> bool:
    """Whether Mage's run `run_id` completed (every block of it succeeded)."""
    from utils.mage_runs import run_record

    try:
        return run_record(int(run_id)).status == 'completed'
    except LookupError:
        return False
