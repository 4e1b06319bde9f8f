"""Runs driven by dates, through the running Mage server (the session's `make up` stack): the
UI's Run@once, Mage's own backfills (`make backfill`), schedules from triggers.yaml, and two runs
of one month at once. The bundled mirror has real rows for two months only, so ranges use
SYNTHETIC months from the project's generator (scripts/bench/synthetic_taxi.py), written into the
test's copy of samples/ only: the offline default never serves them."""

import re
import time

import pytest
import yaml
from conftest import YELLOW_SAMPLE
from course_oracle import course_clean

pytestmark = pytest.mark.mage
SYNTHETIC = {(2019, m): 1_500 + 250 * m for m in (1, 2, 3)}  # rows of each synthetic yellow month


@pytest.fixture(scope='module')
def synthetic_months(stack):
    """Synthetic yellow 2019-01..03 on the stack's mirror; {month: rows the course keeps}."""
    return {
        f'{year}-{month:02d}': stack.serve_synthetic('yellow', year, month, rows)
        for (year, month), rows in SYNTHETIC.items()
    }


def rows_by_month(conn, table: str) -> dict[str, int]:
    with conn.cursor() as cur:
        cur.execute(f"SELECT to_char(source_month, 'YYYY-MM'), count(*) FROM {table} GROUP BY 1")
        return dict(cur.fetchall())


def test_run_at_once_with_the_defaults_loads_yellow_2021_01(stack, db):
    """What the UI's Run@once button sends: an @once time trigger that starts now."""
    mage = stack.mage
    with db.cursor() as cur:
        cur.execute('DROP TABLE IF EXISTS ny_taxi.yellow_taxi_data')
    schedule = mage.run_at_once('api_to_postgres', 'run at once, defaults')
    run = mage.ended_run_of_trigger('api_to_postgres', schedule['id'])
    result = mage.result(run)
    assert result.ok, (result, result.error)
    assert rows_by_month(db, 'ny_taxi.yellow_taxi_data') == {'2021-01': len(course_clean(YELLOW_SAMPLE, 'yellow'))}
    assert result.rows == len(course_clean(YELLOW_SAMPLE, 'yellow'))
    # the run list names what the run loaded: the pipeline's default month, as no variable named one
    assert run['pipeline_schedule_name'] == 'run at once, defaults · yellow 2021-01'
    assert mage._get(f'pipeline_schedules/{schedule["id"]}')['pipeline_schedule']['status'] == 'inactive'


def test_runs_say_what_they_load_and_a_failed_run_at_once_leaves_no_active_trigger(stack):
    """The run lists name each run's service and month after its trigger (scripts/mage/mage_patches/run_labels.py):
    the API trigger's runs by their variables, a backfill's by their dates. A Run@once whose run
    failed is switched off like one that completed (Mage left it active)."""
    mage = stack.mage
    run_id = mage.trigger('api_to_postgres', {'service': 'green', 'year': 2020, 'month': 10})
    mage.wait(run_id, 300)
    (listed,) = [r for r in mage.runs('api_to_postgres') if r['id'] == run_id]
    assert listed['pipeline_schedule_name'] == 'api_to_postgres_on_demand · green 2020-10'

    lacks = {'service': 'green', 'year': 2020, 'month': 9}
    schedule = mage.run_at_once('api_to_postgres', 'run at once, a month the mirror lacks', lacks)
    run = mage.ended_run_of_trigger('api_to_postgres', schedule['id'])
    assert run['status'] == 'failed'
    assert run['pipeline_schedule_name'] == 'run at once, a month the mirror lacks · green 2020-09'
    deadline = time.monotonic() + 30  # the scheduler switches it off as it records the failure
    while mage._get(f'pipeline_schedules/{schedule["id"]}')['pipeline_schedule']['status'] != 'inactive':
        assert time.monotonic() < deadline, 'the failed Run@once trigger is still active'
        time.sleep(0.5)


def test_a_backfill_loads_each_month_once_and_a_rerun_replaces_them(stack, db, synthetic_months):
    done = stack.make('backfill', PIPELINE='api_to_postgres', SERVICE='yellow', FROM='2019-01', TO='2019-03')
    assert done.returncode == 0, done.stdout + done.stderr
    for month, kept in synthetic_months.items():
        assert f'{month}  completed  {kept:>12,} rows' in done.stdout, done.stdout
    assert f'total: 3 months, 3 completed, 0 failed; {sum(synthetic_months.values()):,} rows' in done.stdout
    loaded = rows_by_month(db, 'ny_taxi.yellow_taxi_data')
    assert {m: loaded[m] for m in synthetic_months} == synthetic_months

    # Mage's own backfill, as the UI shows it: one run per month start, each with its date
    backfill = stack.mage._get('backfills', pipeline_uuid='api_to_postgres')['backfills'][0]
    assert (backfill['interval_type'], backfill['status']) == ('month', 'completed')
    runs = stack.mage.backfill_runs(backfill['id'])
    assert sorted(r['execution_date'][:10] for r in runs) == ['2019-01-01', '2019-02-01', '2019-03-01']
    # each run named by the month it loaded, after its trigger (the backfill's page lists them so)
    assert sorted(r['pipeline_schedule_name'].rsplit(' · ', 1)[1] for r in runs) == [
        'yellow 2019-01',
        'yellow 2019-02',
        'yellow 2019-03',
    ]

    # FORCE=true: loaded again although the files have not changed (without it: skipped, test_services)
    again = stack.make(
        'backfill', PIPELINE='api_to_postgres', SERVICE='yellow', FROM='2019-01', TO='2019-03', FORCE='true'
    )
    assert again.returncode == 0, again.stdout + again.stderr
    forced = int(re.search(r'api_to_postgres backfill (\d+) ', again.stdout).group(1))
    for backfill_run in stack.mage.backfill_runs(forced):
        assert 'unchanged since' not in stack.mage.block_log('api_to_postgres', backfill_run['id'], 'load_taxi_csv')
    loaded = rows_by_month(db, 'ny_taxi.yellow_taxi_data')
    assert {m: loaded[m] for m in synthetic_months} == synthetic_months  # replaced, not doubled

    work = stack.checkout / '.data' / 'work' / 'api_to_postgres'
    assert not [p for p in work.rglob('*') if p.is_file()], list(work.rglob('*'))  # no work file stays


def test_the_cloud_pipelines_backfill_by_date_too(stack, synthetic_months):
    """api_to_gcs writes each month's objects, then gcs_to_bigquery loads each month from them:
    the rows BigQuery counts per month equal the course's count of that month's file."""
    for pipeline in ('api_to_gcs', 'gcs_to_bigquery'):
        done = stack.make('backfill', PIPELINE=pipeline, SERVICE='yellow', FROM='2019-01', TO='2019-02')
        assert done.returncode == 0, done.stdout + done.stderr
        for month in ('2019-01', '2019-02'):
            assert f'{month}  completed  {synthetic_months[month]:>12,} rows' in done.stdout, done.stdout


def test_a_missing_month_fails_alone_and_is_named(stack, db, synthetic_months):
    done = stack.make('backfill', PIPELINE='api_to_postgres', SERVICE='yellow', FROM='2019-02', TO='2019-04')
    assert done.returncode != 0, done.stdout + done.stderr  # make says 2 for the script's 1
    assert '2019-04  failed     in load_taxi_csv: SourceError: GET http://127.0.0.1:' in done.stdout, done.stdout
    assert 'yellow_tripdata_2019-04.csv.gz answered HTTP 404' in done.stdout
    assert 'total: 3 months, 2 completed, 1 failed' in done.stdout
    assert '[backfill] failed: 2019-04 (load_taxi_csv)' in done.stdout
    assert re.search(
        r'the sample mirror serves only [-\d, ]*2019-02, 2019-03, 2021-01 of yellow in the course '
        r'release',
        done.stdout,
    ), done.stdout
    loaded = rows_by_month(db, 'ny_taxi.yellow_taxi_data')
    assert {m: loaded[m] for m in ('2019-02', '2019-03')} == {m: synthetic_months[m] for m in ('2019-02', '2019-03')}
    assert '2019-04' not in loaded


@pytest.mark.parametrize(
    'args, message',
    [
        ({'FROM': '2020-12', 'TO': '2020-10'}, 'FROM=2020-12 is after TO=2020-10'),
        ({'FROM': '2020-13'}, "FROM='2020-13' is not a month: write YYYY-MM"),
        ({'TO': '20-10'}, "TO='20-10' is not a month"),
        (
            {'PIPELINE': 'api_to_nowhere'},
            "PIPELINE='api_to_nowhere' is not a pipeline that takes a month: use one of "
            'api_to_gcs, api_to_postgres, bigquery_marts, gcs_to_bigquery, postgres_marts',
        ),
        ({'SERVICE': 'blue'}, "SERVICE='blue' is not a taxi service: use one of yellow, green, fhv, fhvhv"),
        ({'SERVICE': 'yellow,blue'}, "SERVICE='yellow,blue' is not a taxi service"),
        ({'RELEASE': 'kaggle'}, "RELEASE='kaggle' is not a release: use one of course, tlc"),
        ({'CLEANING': 'dirty'}, "CLEANING='dirty' is not a cleaning: use one of service, raw"),
        ({'FROM': '2010-01', 'TO': '2020-12'}, 'FROM=2010-01 TO=2020-12 is 132 months, more than 120: add CONFIRM=yes'),
    ],
)
def test_bad_backfill_input_is_named_and_creates_nothing(stack, args, message):
    before = len(stack.mage._get('backfills')['backfills'])
    done = stack.make(
        'backfill', **{'PIPELINE': 'api_to_postgres', 'SERVICE': 'green', 'FROM': '2020-10', 'TO': '2020-11', **args}
    )
    assert done.returncode != 0
    assert f'[backfill] {message}' in done.stdout and 'nothing was created' in done.stdout, done.stdout
    assert len(stack.mage._get('backfills')['backfills']) == before


def test_make_backfill_with_no_arguments_says_its_usage(stack):
    done = stack.make('backfill')
    assert done.returncode != 0
    assert done.stdout.startswith(
        '[backfill] usage: make backfill PIPELINE=<one of api_to_gcs, api_to_postgres, '
        'bigquery_marts, gcs_to_bigquery, postgres_marts> SERVICE=yellow[,green,fhv,fhvhv] FROM=YYYY-MM TO=YYYY-MM'
    ), done.stdout


def test_two_runs_of_one_month_at_once_leave_one_copy(stack, db, synthetic_months):
    """Run@once clicked twice: both API trigger calls before either run ends."""
    mage = stack.mage
    trigger = mage.api_trigger('api_to_postgres')
    url = f'{mage.base_url}/api/pipeline_schedules/{trigger["id"]}/pipeline_runs/{trigger["token"]}'
    variables = {'pipeline_run': {'variables': {'service': 'yellow', 'year': 2019, 'month': 2}}}
    ids = [mage.http.post(url, json=variables, timeout=30).json()['pipeline_run']['id'] for _ in range(2)]
    deadline = time.monotonic() + 300
    while not all(mage._get(f'pipeline_runs/{i}')['pipeline_run']['status'] in ('completed', 'failed') for i in ids):
        assert time.monotonic() < deadline
        time.sleep(1)
    results = [mage.result(mage._get(f'pipeline_runs/{i}')['pipeline_run']) for i in ids]
    assert [r.status for r in results] == ['completed', 'completed'], [r.error for r in results]
    assert rows_by_month(db, 'ny_taxi.yellow_taxi_data')['2019-02'] == synthetic_months['2019-02']


def test_schedules_in_triggers_yaml_are_in_the_server(stack):
    for pipeline in ('api_to_postgres', 'api_to_gcs', 'gcs_to_bigquery'):
        in_git = yaml.safe_load((stack.checkout / 'pipelines' / pipeline / 'triggers.yaml').read_text())['triggers']
        in_server = {
            s['name']: s for s in stack.mage._get(f'pipelines/{pipeline}/pipeline_schedules')['pipeline_schedules']
        }
        for trigger in in_git:
            synced = in_server[trigger['name']]
            assert (synced['schedule_type'], synced['schedule_interval'], synced['status']) == (
                trigger['schedule_type'],
                trigger['schedule_interval'],
                trigger['status'],
            )
            assert (synced['variables'] or {}) == (trigger['variables'] or {})
        monthly = {n: s for n, s in in_server.items() if n.endswith('_monthly')}
        assert {s['variables']['service'] for s in monthly.values()} == {'green', 'yellow'}
        assert all(s['status'] == 'inactive' for s in monthly.values())  # committed off: test_sensors


def test_the_homework_schedule_is_in_the_server(stack):
    """green_taxi_etl: the homework's daily 05:00 UTC schedule (committed inactive) and its API trigger."""
    schedules = {
        s['name']: s for s in stack.mage._get('pipelines/green_taxi_etl/pipeline_schedules')['pipeline_schedules']
    }
    daily = schedules['green_taxi_etl_daily']
    assert (daily['schedule_type'], daily['schedule_interval'], daily['status']) == ('time', '0 5 * * *', 'inactive')
    assert schedules['green_taxi_etl_on_demand']['schedule_type'] == 'api'
