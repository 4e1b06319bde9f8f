"""Which month a run loads: the one its variables name, or the one Mage ran it for.

    the run was started by                                  it loads
    a person: Run@once, the API trigger, `mage run`         the variables `year`, `month`
                                                            (pipeline defaults: 2021-01)
    Mage from a date: a backfill, a recurring schedule      the month of its execution_date
    `mage run --runtime-vars '{"execution_date": "2020-11-01"}'`   the month of that date

Mage merges the pipeline's default variables into every run, backfill runs too, so whether
`year` and `month` are present says nothing. What the run is says it: Mage's database knows
whether a run belongs to a backfill or to a schedule that recurs, and only those (or a person
passing execution_date by hand) take the month from the date. Dates are read in UTC.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timezone
from typing import Any, Mapping

from utils.taxi_source import TaxiMonth

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
    from mage_ai.orchestration.db.models.schedules import PipelineRun

    run = PipelineRun.query.get(int(run_id))
    if run is None:
        raise LookupError(f'Mage has no pipeline run {run_id} in its database')
    if run.backfill_id is not None:
        return 'backfill'
    schedule = run.pipeline_schedule
    if (
        schedule is not None
        and schedule.schedule_type == 'time'
        and schedule.schedule_interval not in (None, '@once')
    ):
        return 'schedule'
    return 'person'


def run_is_date_driven(variables: Mapping[str, Any]) -> bool:
    """True for a Mage backfill run or a recurring schedule's run, or a run given execution_date
    by hand (no run id: `mage run`); not for a block run in the editor."""
    if variables.get('pipeline_run_id') is None:
        # Only a date a person wrote (`--runtime-vars` gives a string). Mage's editor runs a block
        # with execution_date=datetime.now() when nobody gave one (server/websocket_server.py):
        # that names no month, so the editor loads the variables' month, as the course's does.
        given = variables.get('execution_date')
        return isinstance(given, str) and given.strip() != ''
    return run_started_by(variables) in ('backfill', 'schedule')


def month_of_run(variables: Mapping[str, Any], date_driven: bool | None = None) -> TaxiMonth:
    """The service and month this run loads, by the rule in the module's docstring."""
    if date_driven is None:
        date_driven = run_is_date_driven(variables)
    if not date_driven:
        month = TaxiMonth.from_vars(variables)
        log.info('loading %s %04d-%02d, named by the variables year and month', month.service, month.year, month.month)
        return month
    day = parse_execution_date(variables.get('execution_date'))
    month = TaxiMonth.from_vars({**variables, 'year': day.year, 'month': day.month})
    log.info('loading %s %04d-%02d, the month of the run\'s execution_date %s', month.service, month.year,
             month.month, day.isoformat())
    return month
