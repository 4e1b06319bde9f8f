"""The monthly schedules' sensors, in the session's `make up` stack (its real Mage server).

The committed monthly schedules are inactive (a fresh offline `make up` leaves no run that can
only fail). Tests of a month that appears or never does use schedules of their own (yearly, so
their month is another one) reading the TLC's release, with a poll of a second. The months they
serve are SYNTHETIC (the project's generator), in the stack's copy of samples/ only.
"""

from __future__ import annotations

import os
import re
import signal
import time
from datetime import date, datetime, timezone

import psutil
import pytest
from conftest import query

from scripts.stack.processes import ServiceError, wait_until

pytestmark = pytest.mark.mage
WAITING_PIPELINES = ('api_to_postgres', 'api_to_gcs', 'gcs_to_bigquery')
DONE = ('completed', 'failed', 'cancelled')


def schedules(stack, pipeline: str) -> dict[str, dict]:
    return {s['name']: s for s in stack.mage._get(f'pipelines/{pipeline}/pipeline_schedules')['pipeline_schedules']}


def runs_of(stack, pipeline: str, schedule_id: int) -> list[dict]:
    return [r for r in stack.mage.runs(pipeline) if r['pipeline_schedule_id'] == schedule_id]


def block_status(stack, run_id: int, block: str) -> str | None:
    """The status of the run's one block run of `block`, as the run page's list says it. Block
    runs of another run, or two of one block, fail at once naming them all. (A status that lagged
    behind Mage's database for over 300 s failed this module once: Mage's web server answered
    from its session's old copy; scripts/mage/mage_patches/fresh_block_runs.py.)"""
    block_runs = stack.mage._get(f'pipeline_runs/{run_id}/block_runs')['block_runs']
    found = [b for b in block_runs if b['block_uuid'] == block]
    strange = [b for b in block_runs if b['pipeline_run_id'] != run_id]
    assert len(found) <= 1 and not strange, (
        f'GET pipeline_runs/{run_id}/block_runs gave {len(found)} block runs of {block} and '
        f'{len(strange)} of other runs:\n{stack.run_story(run_id, block_runs)}'
    )
    return found[0]['status'] if found else None


def sensor_of(pipeline: str) -> str:
    return 'wait_for_gcs_month' if pipeline == 'gcs_to_bigquery' else 'wait_for_release_file'


def month_of(run: dict) -> date:
    return datetime.fromisoformat(run['execution_date'].replace('Z', '+00:00')).date().replace(day=1)


def yearly_schedule(stack, pipeline: str, name: str, month_of_year: int, variables: dict) -> dict:
    """An active schedule of our own on the 1st of `month_of_year` each year: Mage creates its run
    for this year's date at once (create_initial_pipeline_run), which loads that month."""
    return stack.mage._send(
        'POST',
        f'pipelines/{pipeline}/pipeline_schedules',
        {
            'pipeline_schedule': {
                'name': name,
                'schedule_type': 'time',
                'schedule_interval': f'0 0 1 {month_of_year} *',
                'start_time': '2024-01-01 00:00:00',
                'status': 'active',
                'variables': variables,
                'settings': {'create_initial_pipeline_run': True, 'skip_if_previous_running': True},
            }
        },
    )['pipeline_schedule']


def stop_schedule(stack, schedule: dict) -> None:
    stack.mage._send('PUT', f'pipeline_schedules/{schedule["id"]}', {'pipeline_schedule': {'status': 'inactive'}})


def the_run(stack, pipeline: str, schedule: dict) -> dict:
    found: list[dict] = []
    wait_until(
        lambda: found.extend(runs_of(stack, pipeline, schedule['id'])) or found,
        120,
        f'the run of schedule {schedule["name"]}',
        interval=1,
    )
    return found[0]


def waiting_run(stack, pipeline: str, schedule: dict, file: str) -> dict:
    """The schedule's run, once its sensor is running and its log says it waits for `file`."""
    run = the_run(stack, pipeline, schedule)

    def waiting() -> bool:
        if block_status(stack, run['id'], sensor_of(pipeline)) != 'running':
            return False
        log = stack.mage.block_log(pipeline, run['id'], sensor_of(pipeline))
        return f'{file} is not there yet' in log

    try:
        wait_until(waiting, 300, f'run {run["id"]} of {schedule["name"]} waiting for {file}', interval=1)
    except ServiceError as e:  # say what the run and the pipeline's other runs were doing
        others = [
            (r['id'], r['status'], r['pipeline_schedule_name'])
            for r in stack.mage.runs(pipeline)
            if r['status'] in ('initial', 'running')
        ]
        this = stack.mage._get(f'pipeline_runs/{run["id"]}')['pipeline_run']
        sensor_log = stack.mage.block_log(pipeline, run['id'], sensor_of(pipeline))[-3000:]
        heads = stack.mirror_requests(f'/trip-data/{file}', 'HEAD')  # did the sensor ask at all?
        stacks = where_each_mage_process_is(stack)
        mage_log = (stack.checkout / '.data' / 'logs' / 'mage.log').read_text(errors='replace')[-4000:]
        raise AssertionError(
            f'{e}: the run is {this["status"]}; runs of {pipeline} not done: {others}; '
            f"HEADs of {file} the mirror answered: {heads}; the sensor's log as the API gives it:\n{sensor_log}\n"
            f'--- its block runs and mage.log on it:\n{stack.run_story(run["id"])}\n'
            f'--- the end of mage.log:\n{mage_log}\n--- where each Mage process was:\n{stacks}'
        ) from None
    return run


STACK_HEADER = re.compile(r'^(Thread 0x[0-9a-f]+|Current thread 0x[0-9a-f]+) \(most recent call first\):$', re.M)


def where_each_mage_process_is(stack, timeout: float = 30) -> str:
    """SIGUSR1 to every process of the stack's Mage server (itself, its scheduler, the runs it
    forked): each writes its threads' stacks to a file of its own and goes on
    (scripts/mage/start_mage.py). Returns what each wrote, waited for by its pid (a stack header
    and its frames), under a line naming the process."""
    folder = stack.checkout / '.data' / 'mage' / 'stacks'
    signalled = {}
    for pid in stack.pids():
        try:
            if any('start_mage.py' in part for part in psutil.Process(pid).cmdline()):
                dump = folder / f'{pid}.txt'
                signalled[pid] = dump.stat().st_size if dump.exists() else 0
                os.kill(pid, signal.SIGUSR1)
        except (psutil.Error, OSError):
            signalled.pop(pid, None)
    said = []
    for pid, start in signalled.items():
        dump, deadline, written = folder / f'{pid}.txt', time.monotonic() + timeout, ''
        while not (STACK_HEADER.search(written) and 'File "' in written):
            if not psutil.pid_exists(pid):
                written += f'\n(process {pid} ended before it wrote)'
                break
            if time.monotonic() > deadline:
                written += f'\n(nothing from process {pid} after {timeout:.0f} s)'
                break
            time.sleep(0.2)
            if dump.exists():
                with open(dump, errors='replace') as f:
                    f.seek(start)
                    written = f.read()
        said.append(f'--- process {pid}:\n{written[-6000:]}')
    return '\n'.join(said)


def test_a_mage_process_sent_sigusr1_says_where_it_is_and_goes_on(stack):
    """What waiting_run does when a run does not come up: every Mage process writes its threads'
    stacks to a file of its own, and the server still answers."""
    written = where_each_mage_process_is(stack)
    processes = written.count('--- process ') - written.count('ended before it wrote')
    assert processes >= 2, written[-2000:]  # the server and its scheduler at least
    assert len(STACK_HEADER.findall(written)) >= processes and written.count('File "') >= processes, written[-4000:]
    assert 'nothing from process' not in written, written[-4000:]
    assert stack.mage.ready()


def test_a_fresh_make_up_has_the_monthly_schedules_off_and_no_run_that_can_only_fail(stack):
    for pipeline in WAITING_PIPELINES:
        monthly = {n: s for n, s in schedules(stack, pipeline).items() if n.endswith('_monthly')}
        assert sorted(s['status'] for s in monthly.values()) == ['inactive', 'inactive'], monthly
        assert all('newest published month' in s['description'] for s in monthly.values())
        assert [
            r for r in stack.mage.runs(pipeline) if r['pipeline_schedule_id'] in {s['id'] for s in monthly.values()}
        ] == []


def test_waiting_schedules_do_not_block_run_at_once_or_a_backfill(stack):
    """api_to_postgres allows 2 runs per trigger and 4 in all: two monthly runs waiting for their
    month leave room for a Run@once and a backfill at the same time (with one limit of 2 for all
    triggers, as before the sensors, neither would start)."""
    mage = stack.mage
    waiting = {}
    year = datetime.now(timezone.utc).year
    for month_of_year, service in ((5, 'yellow'), (6, 'green')):  # they load March and April
        schedule = yearly_schedule(
            stack, 'api_to_postgres', f'waiting {service}', month_of_year, {'service': service, 'source': 'tlc'}
        )
        file = f'{service}_tripdata_{year}-{month_of_year - 2:02d}.parquet'  # the mirror never has it
        waiting[schedule['name']] = (schedule, waiting_run(stack, 'api_to_postgres', schedule, file))
    try:
        once = mage.run_at_once(
            'api_to_postgres',
            'run at once beside the waiting schedules',
            {'service': 'green', 'year': 2020, 'month': 10},
        )
        backfill = mage.create_backfill(
            'api_to_postgres', 'beside the waiting schedules', date(2021, 1, 1), date(2021, 1, 1), {'service': 'yellow'}
        )
        finished, said = [], []  # what make backfill prints as a month finishes, and while it waits
        (backfilled,) = mage.wait_for_backfill(
            backfill['id'], months=1, timeout=600, finished=finished.append, waiting=said.append, every=0
        )
        assert finished == [backfilled]
        line = re.compile(
            r'\d+ s: 0 of 1 done; not yet: (2021-01 (initial|running)( \(\w+\))?|1 month\(s\) with no run yet)'
        )
        assert said and all(line.fullmatch(s) for s in said), said
        for name, (_, run) in waiting.items():  # a month not done names its status and running block
            run = mage._get(f'pipeline_runs/{run["id"]}')['pipeline_run']
            assert mage.not_done([run], 2) == (
                f'{run["execution_date"][:7]} running (wait_for_release_file), 1 month(s) with no run yet'
            ), name
        at_once = mage.result(mage.wait(the_run(stack, 'api_to_postgres', once)['id'], timeout=600))
        assert (at_once.status, backfilled.status) == ('completed', 'completed'), (at_once.error, backfilled.error)
        assert at_once.rows > 0 and backfilled.rows > 0
        for name, (_, run) in waiting.items():  # still waiting, the same runs
            assert mage._get(f'pipeline_runs/{run["id"]}')['pipeline_run']['status'] == 'running', name
            assert block_status(stack, run['id'], 'wait_for_release_file') == 'running', name
    finally:
        for schedule, run in waiting.values():
            stop_schedule(stack, schedule)
            mage._send('PUT', f'pipeline_runs/{run["id"]}', {'pipeline_run': {'status': 'cancelled'}})


def test_a_schedule_on_a_release_that_publishes_no_more_fails_at_once_saying_so(stack):
    """The course's copy stops at 2021-07: a schedule reading it in 2026 has nothing to wait for,
    and says so at once rather than failing after 48 hours of waiting."""
    schedule = yearly_schedule(
        stack,
        'api_to_postgres',
        'sensor test: the course release in March',
        3,
        {'service': 'yellow', 'source': 'course'},
    )
    try:
        done = stack.mage.result(stack.mage.wait(the_run(stack, 'api_to_postgres', schedule)['id'], timeout=300))
    finally:
        stop_schedule(stack, schedule)
    assert (done.status, done.failed_blocks) == ('failed', ['wait_for_release_file']), done
    year = datetime.now(timezone.utc).year
    assert done.error.startswith(f'SourceNotPublishedError: yellow {year}-01 will never be published at http'), (
        done.error
    )
    assert 'the course release (DataTalksClub/nyc-tlc-data) has yellow 2019-01..2021-07' in done.error


def test_a_scheduled_run_waits_for_its_month_and_loads_it_when_published(stack, db):
    """The January run loads last November (source_lag_months=2) from the TLC's release."""
    year = datetime.now(timezone.utc).year
    path = f'/trip-data/yellow_tripdata_{year - 1}-11.parquet'  # SYNTHETIC, served below
    schedule = yearly_schedule(
        stack,
        'api_to_postgres',
        'sensor test: yellow each January',
        1,
        {'service': 'yellow', 'source': 'tlc', 'source_poll_seconds': 1, 'source_wait_hours': 1},
    )
    try:
        run = the_run(stack, 'api_to_postgres', schedule)
        assert month_of(run) == date(year, 1, 1)
        wait_until(lambda: stack.mirror_requests(path, 'HEAD') >= 2, 120, f'the sensor asking for {path} twice')
        assert block_status(stack, run['id'], 'load_taxi_csv') in (None, 'initial')  # nothing loaded yet
        kept = stack.serve_synthetic('yellow', year - 1, 11, rows=900, source='tlc')
        done = stack.mage.result(stack.mage.wait(run['id'], timeout=600))
    finally:
        stop_schedule(stack, schedule)
    assert done.ok, (done, done.error)
    assert done.rows == kept
    with db.cursor() as cur:
        cur.execute('SELECT count(*) FROM ny_taxi.yellow_taxi_data WHERE source_month = %s', (date(year - 1, 11, 1),))
        assert cur.fetchone()[0] == kept
        cur.execute('DELETE FROM ny_taxi.yellow_taxi_data WHERE source_month = %s', (date(year - 1, 11, 1),))
    db.commit()
    log = stack.mage.block_log('api_to_postgres', run['id'], 'wait_for_release_file')
    assert f'waiting for yellow {year - 1}-11 (tlc) (the TLC release), published at http' in log
    assert f'{path[1:]} is not there yet; next check in 1 s (gives up after 60 min)' in log
    assert f'{path[1:]} is there (after ' in log


def test_a_month_that_never_appears_fails_the_run_naming_it_and_alerts(stack, db):
    last_year = datetime.now(timezone.utc).year - 1
    url_path = f'trip-data/green_tripdata_{last_year}-12.parquet'  # never served
    schedule = yearly_schedule(
        stack,
        'api_to_postgres',
        'sensor test: green each February',
        2,
        {'service': 'green', 'source': 'tlc', 'source_poll_seconds': 1, 'source_wait_hours': 0.003},
    )
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
    # Its audit row names the month the schedule's run was for (February's date, source_lag_months
    # 2 before it), not the pipeline's default month (2021-01): one answer to which month.
    assert query(
        db, 'SELECT service, month, status, block FROM ny_taxi.load_audit WHERE run_id = %s', (run['id'],)
    ) == [('green', date(last_year, 12, 1), 'failed', 'wait_for_release_file')]
    alerts: list[str] = []
    wait_until(
        lambda: (
            alerts.extend(t for t in map(stack.alerts.text, stack.alerts.posts) if f'/runs/{run["id"]}' in t) or alerts
        ),
        120,
        'the failure alert',
    )
    assert 'Mage: api_to_postgres failed' in alerts[0] and f'{url_path} did not appear' in alerts[0], alerts[0]
