"""Recovery, retries, alerts and the audit trail, as a user meets them: through the running
Mage server of the session's `make up` stack, its REST API, its real PostgreSQL (stopped and
started as an outage would), its real sample mirror (whose access log counts the downloads) and
a real HTTP receiver for Mage's Slack-style alerts (ALERT_WEBHOOK_URL). The months are SYNTHETIC
(the project's generator), served from the stack's own copy of samples/."""

import re
import time
from contextlib import closing, contextmanager
from datetime import date

import pytest
from conftest import query

pytestmark = pytest.mark.mage
MONTHS = {6: 1_300, 7: 1_400}  # synthetic yellow 2019-06 and 2019-07: rows in each file


@pytest.fixture(scope='module')
def months(stack):
    """{month: rows the course keeps} of the synthetic months on the stack's mirror."""
    return {m: stack.serve_synthetic('yellow', 2019, m, rows) for m, rows in MONTHS.items()}


def variables(month: int) -> dict:
    return {'service': 'yellow', 'year': 2019, 'month': month}


def source_path(month: int) -> str:
    return f'/yellow/yellow_tripdata_2019-{month:02d}.csv.gz'


def alerts_for(stack, run_id: int, wait: float = 0) -> list[str]:
    """The alerts Mage posted about run `run_id` (their text names the run's page)."""
    deadline = time.monotonic() + wait
    while True:
        found = [text for text in map(stack.alerts.text, stack.alerts.posts) if re.search(rf'/runs/{run_id}\b', text)]
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(0.5)


@contextmanager
def postgres_down(stack):
    """The stack's PostgreSQL stopped (a real outage: connections refused); started again on
    the way out if the test has not done it itself."""
    server = stack.postgres()
    server.stop()
    try:
        yield server
    finally:
        if not server.running():
            server.start()


def rows_in(stack, month: int) -> int:
    """The month's rows, on a connection opened now (the server was restarted)."""
    with closing(stack.postgres().connect()) as conn:
        return query(
            conn, 'SELECT count(*) FROM ny_taxi.yellow_taxi_data WHERE source_month = %s', (f'2019-{month:02d}-01',)
        )[0][0]


def test_a_run_failed_at_its_export_resumes_from_that_block(stack, months):
    """PostgreSQL down -> the run fails in its export after the block's retries, alerting once;
    PostgreSQL up -> Mage's retry of the run's incomplete blocks re-runs the export only, from the
    loader's and cleaner's work files: the month's exact rows, and the file downloaded once."""
    mage = stack.mage
    downloads = stack.mirror_requests(source_path(6))
    with postgres_down(stack) as server:
        run_id = mage.trigger('api_to_postgres', variables(6))
        failed = mage.result(mage.wait(run_id, 180))
        server.start()
    assert failed.status == 'failed', failed
    assert failed.blocks == {
        'wait_for_release_file': 'completed',
        'load_taxi_csv': 'completed',
        'clean_taxi_trips': 'completed',
        'export_taxi_to_postgres': 'failed',
        'flag_unusual_month': 'cancelled',
        'remove_work_files': 'cancelled',
        'refresh_marts': 'cancelled',
    }, stack.run_story(run_id)  # once 'cancelled': two sets of block runs (mage_patches/block_runs_once.py)
    assert failed.error.startswith('ConfigError: cannot connect to PostgreSQL at root@127.0.0.1:'), failed.error
    assert failed.seconds < 60, failed.seconds  # a lasting fault fails in seconds (retries: 5 s + 10 s)
    log = mage.block_log('api_to_postgres', run_id, 'export_taxi_to_postgres')
    assert 'attempt 1 of 3' in log and 'attempt 3 of 3' in log, log[-2000:]
    work = stack.checkout / '.data' / 'work' / 'api_to_postgres' / 'yellow_tripdata_2019-06' / f'run-{run_id}'
    assert (work / 'clean.parquet').is_file()  # kept for the retry...
    assert f"the run's work files stay in {work}" in log  # ...and named in the error

    (alert,) = alerts_for(stack, run_id, wait=15)
    assert 'Mage: api_to_postgres failed' in alert
    assert 'export_taxi_to_postgres failed for yellow 2019-06' in alert
    assert 'cannot connect to PostgreSQL' in alert and str(work) in alert

    mage.retry_failed_blocks(run_id)
    retried = mage.result(mage.wait(run_id, 180))
    assert retried.ok, (retried, retried.error)
    assert retried.rows == rows_in(stack, 6) == months[6]
    assert stack.mirror_requests(source_path(6)) == downloads + 1  # the loader did not run again
    assert len(mage.block_log('api_to_postgres', run_id, 'load_taxi_csv').split('downloaded http')) == 2
    assert not work.exists()
    time.sleep(3)
    assert len(alerts_for(stack, run_id)) == 1  # the retry that completed sent nothing more


def test_the_database_back_before_the_blocks_retry_lets_the_run_complete(stack, months):
    """PostgreSQL unreachable for the export's first attempt, back before its retry (5 s later)."""
    mage = stack.mage
    downloads = stack.mirror_requests(source_path(7))
    with postgres_down(stack) as server:
        run_id = mage.trigger('api_to_postgres', variables(7))
        deadline = time.monotonic() + 120
        while 'attempt 1 of 3' not in mage.block_log('api_to_postgres', run_id, 'export_taxi_to_postgres'):
            assert time.monotonic() < deadline, mage.block_log('api_to_postgres', run_id, 'export_taxi_to_postgres')
            time.sleep(0.3)
        server.start()
    result = mage.result(mage.wait(run_id, 180))
    assert result.ok, (result, result.error)
    assert rows_in(stack, 7) == result.rows == months[7]
    assert stack.mirror_requests(source_path(7)) == downloads + 1, stack.run_story(run_id)  # loaded once
    assert 'cannot connect to PostgreSQL' in mage.block_log('api_to_postgres', run_id, 'export_taxi_to_postgres')
    assert alerts_for(stack, run_id, wait=3) == []


def test_every_load_attempt_leaves_an_audit_row(stack, db, months):
    """A failed run (its month is not on the mirror) and a succeeded one, each through the
    server: one row per attempt of each loading block, with the counts, in ny_taxi.load_audit."""
    mage = stack.mage
    missing = mage.run('api_to_postgres', variables(9))
    done = mage.run('api_to_postgres', variables(6))
    assert (missing.status, done.status) == ('failed', 'completed'), (missing.error, done.error)

    (row,) = query(
        db,
        'SELECT pipeline_uuid, block, service, month, status, error, source_url FROM ny_taxi.load_audit '
        'WHERE run_id = %s ORDER BY id',
        (missing.run_id,),
    )
    assert row[:5] == ('api_to_postgres', 'load_taxi_csv', 'yellow', date(2019, 9, 1), 'failed')
    assert row[5].startswith('yellow 2019-09, HTTP 404 ') and 'SourceError: GET http://127.0.0.1:' in row[5], row[5]
    assert row[6].endswith(source_path(9))

    audit = query(
        db,
        'SELECT block, status, bytes, rows_read, rows_rejected, rows_kept, rows_dropped, rows_loaded, '
        'target, finished_at >= started_at FROM ny_taxi.load_audit WHERE run_id = %s ORDER BY id',
        (done.run_id,),
    )
    size = (stack.checkout / 'samples' / source_path(6).lstrip('/')).stat().st_size
    assert [r[:2] for r in audit] == [('load_taxi_csv', 'succeeded'), ('export_taxi_to_postgres', 'succeeded')]
    loader, export = audit
    assert loader[2:4] == (size, MONTHS[6]) and loader[4] == 0
    assert export[5] == export[7] == months[6] and sum(export[6].values()) == MONTHS[6] - months[6]
    assert export[8] == 'ny_taxi.yellow_taxi_data' and all(r[9] for r in audit)

    log = mage.block_log('api_to_postgres', done.run_id, 'export_taxi_to_postgres')
    assert f'export_taxi_to_postgres: yellow 2019-06, {months[6]:,} rows -> ny_taxi.yellow_taxi_data in ' in log
    loader_log = mage.block_log('api_to_postgres', done.run_id, 'load_taxi_csv')
    assert f'load_taxi_csv: yellow 2019-06, {size / 1e6:.1f} MB, {MONTHS[6]:,} rows read, 0 malformed' in loader_log

    assert len(alerts_for(stack, missing.run_id, wait=15)) == 1
    assert alerts_for(stack, done.run_id, wait=3) == []  # a succeeded run posts none


def test_a_failed_run_says_why_first_in_its_log_its_alert_and_the_audit(stack, db, months):
    """A month the mirror does not have, and a month=13 refused before any load: the failed
    block's first ERROR record in Mage's log (the first red row of the run's log list, before
    Mage's own 'Exception thrown when attempting to run <function …>') is the reason in one line;
    the same reason is in the alert and in the run's load_audit row (the refused run has one too,
    with no month)."""
    mage = stack.mage
    missing = mage.run('api_to_postgres', variables(9))
    refused = mage.run('api_to_postgres', {**variables(9), 'month': 13})
    for run, why in (
        (missing, 'yellow 2019-09, HTTP 404 File not found: SourceError: GET http://127.0.0.1:'),
        (refused, 'ValueError: pipeline variable month=13 is outside 1..12'),
    ):
        assert (run.status, run.failed_blocks) == ('failed', ['load_taxi_csv']), run
        first = mage.first_error('api_to_postgres', run.run_id, 'load_taxi_csv')
        assert first.startswith(why) and '\n' not in first, first
        log = mage.block_log('api_to_postgres', run.run_id, 'load_taxi_csv')
        assert log.index(json_text(first)) < log.index('Exception thrown when attempting to run'), log[-3000:]
        ((month, error),) = query(db, 'SELECT month, error FROM ny_taxi.load_audit WHERE run_id = %s', (run.run_id,))
        assert first == error
        assert month == (date(2019, 9, 1) if run is missing else None)
        (alert,) = alerts_for(stack, run.run_id, wait=15)
        assert f'load_taxi_csv failed: {error}' in ' '.join(alert.split()), alert


def json_text(text: str) -> str:
    """`text` as it is written inside a JSON string of Mage's log file."""
    import json

    return json.dumps(text)[1:-1]


def test_the_cloud_loads_write_their_audit_rows_too(stack, db, months):
    """api_to_gcs, then gcs_to_bigquery, for 2019-06 (through `make backfill`, so the month
    comes from the run's date): each cloud export leaves its row, with the target it wrote."""
    for pipeline in ('api_to_gcs', 'gcs_to_bigquery'):
        done = stack.make('backfill', PIPELINE=pipeline, SERVICE='yellow', FROM='2019-06', TO='2019-06')
        assert done.returncode == 0, done.stdout + done.stderr
    audit = query(
        db,
        'SELECT block, status, rows_loaded, target FROM ny_taxi.load_audit '
        "WHERE pipeline_uuid IN ('api_to_gcs', 'gcs_to_bigquery') AND month = '2019-06-01' ORDER BY id",
    )
    bucket = 'nyc-taxi-local'  # dev.env's GCS_BUCKET, which the stack keeps
    assert sorted(audit) == [  # the two GCS exports run side by side: sorted by block
        ('export_taxi_to_bigquery', 'succeeded', months[6], 'local-project.ny_taxi.yellow_tripdata'),
        (
            'export_taxi_to_gcs',
            'succeeded',
            months[6],
            f'gs://{bucket}/nyc_taxi/yellow/yellow_tripdata_2019-06.parquet',
        ),
        ('export_taxi_to_gcs_partitioned', 'succeeded', months[6], f'gs://{bucket}/nyc_taxi/yellow_partitioned/'),
        ('load_taxi_csv', 'succeeded', None, None),
    ]
