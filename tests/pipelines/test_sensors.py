"""The monthly schedules' sensors, in the session's `make up` stack (its real Mage server).

The committed monthly schedules are active: at start Mage creates one run per schedule for its
latest date, whose month no mirror has; those runs wait in their sensor. Tests of a month that
appears or never does use schedules of their own (yearly, so their month is another one), with
a poll of a second. The months they serve are SYNTHETIC (the project's generator), in the
stack's copy of samples/ only.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone

import pytest

from scripts.local_services import wait_until

pytestmark = pytest.mark.mage
WAITING_PIPELINES = ('api_to_postgres', 'api_to_gcs', 'gcs_to_bigquery')
DONE = ('completed', 'failed', 'cancelled')


def schedules(stack, pipeline: str) -> dict[str, dict]:
    return {s['name']: s for s in stack.mage._get(f'pipelines/{pipeline}/pipeline_schedules')['pipeline_schedules']}


def runs_of(stack, pipeline: str, schedule_id: int) -> list[dict]:
    return [r for r in stack.mage.runs(pipeline) if r['pipeline_schedule_id'] == schedule_id]


def block_status(stack, run_id: int, block: str) -> str | None:
    block_runs = stack.mage._get(f'pipeline_runs/{run_id}/block_runs')['block_runs']
    return next((b['status'] for b in block_runs if b['block_uuid'] == block), None)


def sensor_of(pipeline: str) -> str:
    return 'wait_for_gcs_month' if pipeline == 'gcs_to_bigquery' else 'wait_for_release_file'


def month_of(run: dict) -> date:
    return datetime.fromisoformat(run['execution_date'].replace('Z', '+00:00')).date().replace(day=1)


def waiting_monthly_runs(stack, pipeline: str) -> dict[str, dict]:
    """{schedule name: its one run}, once each monthly schedule's run is in its sensor, waiting
    (its log says what it waits for)."""
    found: dict[str, dict] = {}

    def all_waiting() -> bool:
        for name, schedule in schedules(stack, pipeline).items():
            if not name.endswith('_monthly'):
                continue
            runs = runs_of(stack, pipeline, schedule['id'])
            if len(runs) != 1 or block_status(stack, runs[0]['id'], sensor_of(pipeline)) != 'running':
                return False
            service = schedule['variables']['service']
            log = stack.mage.block_log(pipeline, runs[0]['id'], sensor_of(pipeline))
            if f'{service}_tripdata_{month_of(runs[0]):%Y-%m}' not in log or 'is not there yet' not in log:
                return False
            found[name] = runs[0]
        return len(found) == 2

    wait_until(all_waiting, 300, f'the monthly schedules of {pipeline} waiting in their sensor', interval=2)
    return found


def yearly_schedule(stack, pipeline: str, name: str, month_of_year: int, variables: dict) -> dict:
    """An active schedule of our own on the 1st of `month_of_year` each year: Mage creates its run
    for this year's date at once (create_initial_pipeline_run), which loads that month."""
    return stack.mage._send('POST', f'pipelines/{pipeline}/pipeline_schedules', {'pipeline_schedule': {
        'name': name, 'schedule_type': 'time', 'schedule_interval': f'0 0 1 {month_of_year} *',
        'start_time': '2024-01-01 00:00:00', 'status': 'active', 'variables': variables,
        'settings': {'create_initial_pipeline_run': True, 'skip_if_previous_running': True},
    }})['pipeline_schedule']


def stop_schedule(stack, schedule: dict) -> None:
    stack.mage._send('PUT', f"pipeline_schedules/{schedule['id']}", {'pipeline_schedule': {'status': 'inactive'}})


def the_run(stack, pipeline: str, schedule: dict) -> dict:
    found: list[dict] = []
    wait_until(lambda: found.extend(runs_of(stack, pipeline, schedule['id'])) or found, 120,
               f"the run of schedule {schedule['name']}", interval=1)
    return found[0]


def test_a_fresh_make_up_has_the_monthly_schedules_active_and_waiting_not_failing(stack):
    for pipeline in WAITING_PIPELINES:
        monthly = {n: s for n, s in schedules(stack, pipeline).items() if n.endswith('_monthly')}
        assert sorted(s['status'] for s in monthly.values()) == ['active', 'active'], monthly
        waiting = waiting_monthly_runs(stack, pipeline)
        for name, run in waiting.items():
            assert run['status'] == 'running', (name, run)
            # the month of the schedule's latest date, which no mirror has: it waits, one run each
            latest = datetime.now(timezone.utc).date().replace(day=1)
            assert month_of(run) in (latest, (latest - timedelta(days=1)).replace(day=1)), run
    failed = [(p, r['id'], r['pipeline_schedule_name']) for p in WAITING_PIPELINES for r in stack.mage.runs(p)
              if r['status'] == 'failed' and r['pipeline_schedule_name'].endswith('_monthly')]
    assert failed == []


def test_waiting_schedules_do_not_block_run_at_once_or_a_backfill(stack):
    """api_to_postgres allows 2 runs per trigger and 4 in all: its two waiting monthly runs leave
    room for a Run@once and a backfill at the same time (with one limit of 2 for all triggers,
    as before the sensors, neither would start)."""
    mage = stack.mage
    waiting = waiting_monthly_runs(stack, 'api_to_postgres')
    once = mage._send('POST', 'pipelines/api_to_postgres/pipeline_schedules', {'pipeline_schedule': {
        'name': 'run at once beside the waiting schedules', 'schedule_type': 'time', 'schedule_interval': '@once',
        'start_time': (datetime.now(timezone.utc) - timedelta(minutes=1)).strftime('%Y-%m-%d %H:%M:%S'),
        'status': 'active', 'variables': {'service': 'green', 'year': 2020, 'month': 10},
    }})['pipeline_schedule']
    backfill = mage.create_backfill('api_to_postgres', 'beside the waiting schedules', date(2021, 1, 1),
                                    date(2021, 1, 1), {'service': 'yellow'})
    (backfilled,) = mage.wait_for_backfill(backfill['id'], months=1, timeout=600)
    at_once = mage.result(mage.wait(the_run(stack, 'api_to_postgres', once)['id'], timeout=600))
    assert (at_once.status, backfilled.status) == ('completed', 'completed'), (at_once.error, backfilled.error)
    assert at_once.rows > 0 and backfilled.rows > 0
    for name, run in waiting.items():  # still waiting, the same runs
        assert mage._get(f"pipeline_runs/{run['id']}")['pipeline_run']['status'] == 'running', name
        assert block_status(stack, run['id'], 'wait_for_release_file') == 'running', name


def test_a_scheduled_run_waits_for_its_month_and_loads_it_when_published(stack, db):
    path = '/yellow/yellow_tripdata_2026-01.csv.gz'  # SYNTHETIC, served below
    schedule = yearly_schedule(stack, 'api_to_postgres', 'sensor test: yellow each January', 1,
                               {'service': 'yellow', 'source_poll_seconds': 1, 'source_wait_hours': 1})
    try:
        run = the_run(stack, 'api_to_postgres', schedule)
        assert month_of(run) == date(2026, 1, 1)
        wait_until(lambda: stack.mirror_requests(path, 'HEAD') >= 2, 120, f'the sensor asking for {path} twice')
        assert block_status(stack, run['id'], 'load_taxi_csv') in (None, 'initial')  # nothing loaded yet
        kept = stack.serve_synthetic('yellow', 2026, 1, rows=900)
        done = stack.mage.result(stack.mage.wait(run['id'], timeout=600))
    finally:
        stop_schedule(stack, schedule)
    assert done.ok, (done, done.error)
    assert done.rows == kept
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM ny_taxi.yellow_taxi_data WHERE source_month = '2026-01-01'")
        assert cur.fetchone()[0] == kept
    log = stack.mage.block_log('api_to_postgres', run['id'], 'wait_for_release_file')
    assert f'{path[1:]} is not there yet; next check in 1 s (gives up after 60 min)' in log
    assert f'{path[1:]} is there (after ' in log


def test_a_month_that_never_appears_fails_the_run_naming_it_and_alerts(stack):
    url_path = 'green/green_tripdata_2026-02.csv.gz'  # never served
    schedule = yearly_schedule(stack, 'api_to_postgres', 'sensor test: green each February', 2,
                               {'service': 'green', 'source_poll_seconds': 1, 'source_wait_hours': 0.003})
    try:
        run = the_run(stack, 'api_to_postgres', schedule)
        done = stack.mage.result(stack.mage.wait(run['id'], timeout=300))
    finally:
        stop_schedule(stack, schedule)
    assert (done.status, done.failed_blocks) == ('failed', ['wait_for_release_file']), done
    assert done.error.startswith('SourceNotPublishedError: http://127.0.0.1:'), done.error
    assert f'{url_path} did not appear: waited ' in done.error
    assert 'the limit is 11 s (pipeline variable source_wait_hours)' in done.error
    assert block_status(stack, run['id'], 'load_taxi_csv') == 'cancelled'  # nothing was loaded
    alerts: list[str] = []
    wait_until(lambda: alerts.extend(t for t in map(stack.alerts.text, stack.alerts.posts)
                                     if f"/runs/{run['id']}" in t) or alerts, 120, 'the failure alert')
    assert 'Mage: api_to_postgres failed' in alerts[0] and f'{url_path} did not appear' in alerts[0], alerts[0]
