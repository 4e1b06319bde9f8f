"""The dbt project of the marts (dbt/taxi_marts) as Mage runs it: a failing dbt test fails a
server-triggered run of postgres_marts and says which test on which model (the session's
`make up` stack, its Mage server and REST API); the `gcp` profile's BigQuery target compiles
with no network at all; `make docs` writes dbt's pages from the stack's PostgreSQL."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, query

from scripts.stack.run_local import why_failed

pytestmark = pytest.mark.mage
YELLOW = {'service': 'yellow', 'year': 2021, 'month': 1}
DBT = Path(sys.executable).with_name('dbt')


def test_a_failing_dbt_test_fails_the_run_naming_the_test_and_the_model(stack, db):
    """Zone 48, which trips of the bundled yellow month use, removed from the served lookup: the
    dbt test dim_zones_has_every_trip_zone fails; so does the run, and its log says which test
    (its name says on which model) and what dbt found. The lookup back, the next run completes."""
    mage = stack.mage
    served = stack.checkout / 'samples' / 'misc' / 'taxi_zone_lookup.csv'
    good = served.read_text()
    served.write_text(''.join(line for line in good.splitlines(keepends=True) if not line.startswith('48,')))
    try:
        run_id = mage.trigger('postgres_marts', YELLOW)
        failed = mage.result(mage.wait(run_id, 600))
    finally:
        served.write_text(good)
    assert failed.status == 'failed', failed
    assert failed.blocks['build_postgres_marts'] == 'failed' and failed.blocks['check_source_month'] == 'completed'
    log = mage.block_log('postgres_marts', run_id, 'build_postgres_marts')
    assert 'Failure in test dim_zones_has_every_trip_zone (tests/dim_zones_has_every_trip_zone.sql)' in log, log[-3000:]
    assert 'Got 1 result, configured to fail if != 0' in log, log[-3000:]  # zone 48: one failing row
    first = mage.first_error('postgres_marts', run_id, 'build_postgres_marts')  # the log list's first red row
    assert first == 'dbt test dim_zones_has_every_trip_zone fail: Got 1 result, configured to fail if != 0', first
    assert why_failed(mage, failed)[0] == first  # what `make up` prints under a FAIL line
    assert query(db, 'SELECT block, status, error FROM ny_taxi.load_audit WHERE run_id = %s', (run_id,)) == [
        ('build_postgres_marts', 'failed', first)
    ]
    assert query(db, 'SELECT count(*) FROM ny_taxi.dim_zones WHERE location_id = 48') == [(0,)]

    again = mage.result(mage.wait(mage.trigger('postgres_marts', YELLOW), 600))
    assert again.ok, (again, again.error)
    assert query(db, 'SELECT count(*) FROM ny_taxi.dim_zones WHERE location_id = 48') == [(1,)]


def test_a_load_refreshes_its_month_s_marts_and_a_failed_refresh_is_not_the_load_s(stack, db):
    """A Run@once of api_to_postgres starts postgres_marts for its month (the block refresh_marts,
    Mage's trigger_pipeline, trigger 'after a load'). With zone 48 missing from the served lookup
    that refresh fails its dbt test: the load stays completed, the refresh's own run fails and
    alerts. The lookup back, the next load's refresh completes and fact_trips holds the month."""
    import re
    import time

    mage = stack.mage
    served = stack.checkout / 'samples' / 'misc' / 'taxi_zone_lookup.csv'
    good = served.read_text()
    served.write_text(''.join(line for line in good.splitlines(keepends=True) if not line.startswith('48,')))
    try:
        load = mage.run('api_to_postgres', YELLOW, timeout=600)
        assert load.ok, (load.describe(), load.error)
        refresh_id = int(load.manifest['marts_run_id'])
        refresh = mage.result(mage.wait(refresh_id, 600))
    finally:
        served.write_text(good)
    assert (refresh.pipeline_uuid, refresh.status, refresh.failed_blocks) == (
        'postgres_marts',
        'failed',
        ['build_postgres_marts'],
    )
    (run,) = [r for r in mage.runs('postgres_marts') if r['id'] == refresh_id]
    assert {k: int(run['variables'][k]) if k != 'service' else run['variables'][k] for k in YELLOW} == YELLOW
    assert run['pipeline_schedule_name'] == 'after a load · yellow 2021-01'  # its trigger, and what it refreshes
    log = mage.block_log('api_to_postgres', load.run_id, 'refresh_marts')
    assert f'refresh_marts: yellow 2021-01: postgres_marts run {refresh_id} refreshes its marts' in log, log[-2000:]
    deadline = time.monotonic() + 30
    while not (
        alerts := [t for t in map(stack.alerts.text, stack.alerts.posts) if re.search(rf'/runs/{refresh_id}\b', t)]
    ):
        assert time.monotonic() < deadline, 'the failed refresh posted no alert'
        time.sleep(0.5)
    assert 'postgres_marts' in alerts[0]
    assert 'run of trigger `after a load · yellow 2021-01`' in alerts[0]  # the alert names the month too
    assert not [t for t in map(stack.alerts.text, stack.alerts.posts) if re.search(rf'/runs/{load.run_id}\b', t)]

    again = mage.run('api_to_postgres', YELLOW, timeout=600)
    assert again.ok, (again.describe(), again.error)
    refreshed = mage.result(mage.wait(int(again.manifest['marts_run_id']), 600))
    assert refreshed.ok, (refreshed.describe(), refreshed.error)
    assert query(
        db, "SELECT count(*) > 0 FROM ny_taxi.fact_trips WHERE service_type = 'Yellow' AND source_month = '2021-01-01'"
    ) == [(True,)]


def test_make_backfill_refreshes_the_marts_of_each_month_of_its_range(stack, db):
    """`make backfill PIPELINE=postgres_marts`: each run refreshes the month of its date, green
    2020-10 (which `make up` loaded), not the pipeline's default, yellow 2021-01. Mage keeps no
    month in a backfill run's variables (it merges the defaults under them, and passes those to a
    dbt block as --vars); check_source_month asks run_month for the run's month and the dbt block's
    content hands its dbt_vars to dbt."""
    with db.cursor() as cur:
        cur.execute("DELETE FROM ny_taxi.fact_trips WHERE service_type = 'Green' AND source_month = '2020-10-01'")
    done = stack.make('backfill', PIPELINE='postgres_marts', SERVICE='green', FROM='2020-10', TO='2020-10')
    assert done.returncode == 0, done.stdout + done.stderr
    backfill_id = int(re.search(r'postgres_marts backfill (\d+) ', done.stdout).group(1))
    (run,) = stack.mage.backfill_runs(backfill_id)
    assert run['variables']['service'] == 'green' and 'year' not in run['variables'] and 'month' not in run['variables']
    checked = stack.mage.output_of(run['id'], 'check_source_month')
    assert json.loads(checked['dbt_vars']) == {'service': 'green', 'year': 2020, 'month': 10}, checked
    assert run['pipeline_schedule_name'].endswith(' · green 2020-10')
    log = stack.mage.block_log('postgres_marts', run['id'], 'report_mart_refresh')
    assert 'green 2020-10: ' in log and ' trips in fact_trips' in log, log[-2000:]
    loaded = query(
        db, "SELECT count(*) FROM ny_taxi.fact_trips WHERE service_type = 'Green' AND source_month = '2020-10-01'"
    )
    assert loaded[0][0] > 0  # the month's rows are back, refreshed by the backfill's run

    refused = stack.make('backfill', PIPELINE='postgres_marts', SERVICE='fhvhv', FROM='2019-02', TO='2019-02')
    assert refused.returncode == 2 and 'postgres_marts refreshes the marts of yellow, green, fhv only' in refused.stdout


@pytest.mark.skipif(not shutil.which('unshare'), reason='needs unshare (util-linux) for a process with no network')
def test_the_gcp_target_compiles_with_no_network(tmp_path):
    """IO_CONFIG_PROFILE=gcp, a service account key file and no network at all (a network
    namespace of its own): dbt parses and compiles every model and test for real BigQuery."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    keyfile = tmp_path / 'key.json'
    keyfile.write_text(
        json.dumps(
            {
                'type': 'service_account',
                'project_id': 'my-course-project',
                'private_key_id': 'test',
                'private_key': pem,
                'client_email': 'taxi@my-course-project.iam.gserviceaccount.com',
                'client_id': '1',
                'token_uri': 'https://oauth2.googleapis.com/token',
            }
        )
    )
    project = tmp_path / 'taxi_marts'
    shutil.copytree(REPO / 'dbt' / 'taxi_marts', project, ignore=shutil.ignore_patterns('target', 'logs'))
    env = {
        **os.environ,
        'IO_CONFIG_PROFILE': 'gcp',
        'GOOGLE_PROJECT_ID': 'my-course-project',
        'BIGQUERY_DATASET': 'ny_taxi',
        'GOOGLE_LOCATION': 'EU',
        'GOOGLE_SERVICE_ACC_KEY_FILEPATH': str(keyfile),
        'BIGQUERY_EMULATOR_URL': 'http://127.0.0.1:9',
        'NO_GCE_CHECK': 'true',
    }
    offline = ['unshare', '--net', str(DBT)]
    args = [
        '--project-dir',
        str(project),
        '--profiles-dir',
        str(project),
        '--target',
        'bigquery',
        '--vars',
        json.dumps({'service': 'green', 'year': 2020, 'month': 10}),
    ]
    for command in (['parse'], ['compile', '--no-populate-cache']):
        done = subprocess.run(offline + command + args, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    compiled = (project / 'target' / 'compiled' / 'taxi_marts' / 'models' / 'core' / 'fact_trips.sql').read_text()
    assert '`my-course-project`.`ny_taxi`.`green_tripdata`' in compiled, compiled
    assert "source_month = cast('2020-10-01' as date)" in compiled
    test_sql = next((project / 'target' / 'compiled' / 'taxi_marts').rglob('fact_month_rows_reconcile.sql')).read_text()
    assert "service_type = 'Green'" in test_sql


def test_make_docs_writes_the_lineage_and_the_dictionary(stack):
    """`make docs` (generate only) against the stack's PostgreSQL: the catalog has every column
    of the marts with the data dictionary's comment, and the manifest the lineage of
    dm_monthly_zone_revenue back to the sources."""
    done = stack.make('docs', DOCS_ARGS='--generate-only', timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    target = stack.checkout / 'dbt' / 'taxi_marts' / 'target' / 'docs'
    catalog = json.loads((target / 'catalog.json').read_text())['nodes']
    fact = catalog['model.taxi_marts.fact_trips']['columns']
    assert fact['fare_amount']['comment'] == 'The time-and-distance fare calculated by the meter.'
    assert all(c['comment'] for c in fact.values()), [n for n, c in fact.items() if not c['comment']]
    manifest = json.loads((target / 'manifest.json').read_text())
    columns = manifest['nodes']['model.taxi_marts.fact_trips']['columns']  # what the pages show
    assert columns['fare_amount']['description'] == 'The time-and-distance fare calculated by the meter.'
    assert set(columns) == set(fact) and all(c['description'] for c in columns.values())
    parents = manifest['parent_map']
    assert set(parents['model.taxi_marts.dm_monthly_zone_revenue']) == {'model.taxi_marts.int_monthly_zone_revenue'}
    assert set(parents['model.taxi_marts.fact_trips']) == {
        'model.taxi_marts.stg_yellow_tripdata',
        'model.taxi_marts.dim_zones',
    }
    assert (target / 'index.html').is_file()
