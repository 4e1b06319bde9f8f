"""api_to_gcs then gcs_to_bigquery, as users run them (`mage run ... --test`), against the
GCS and BigQuery emulators that `make run` starts, with a fresh bucket and dataset per test."""

from datetime import date

import pytest
from conftest import GREEN_MONTH, REPO, YELLOW_SAMPLE, mage_run
from course_oracle import course_clean

from utils.sinks.bigquery_load import count_month
from utils.sinks.environment import bigquery_client, storage_client

pytestmark = pytest.mark.mage
GREEN_OCT = {'service': 'green', 'year': 2020, 'month': 10}
YELLOW_JAN = {'service': 'yellow', 'year': 2021, 'month': 1}


def run_ok(pipeline, env, variables):
    run = mage_run(REPO, pipeline, env, variables)
    assert run.returncode == 0, run.output[-3000:]
    return run


def objects(bucket: str) -> dict[str, str]:
    """{object name: md5} of everything in the bucket."""
    return {b.name: b.md5_hash for b in storage_client().list_blobs(bucket)}


def rows_in(client, table: str) -> int:
    """The table's rows, counted by a query: the emulator's table metadata (num_rows) adds the
    rows a month's INSERT wrote but does not take off those its DELETE removed."""
    return next(iter(client.query(f'SELECT count(*) AS n FROM `{table}`').result())).n


def test_month_to_gcs_then_bigquery_rerun_and_a_second_month(cloud_env):
    bucket, dataset = cloud_env['GCS_BUCKET'], cloud_env['BIGQUERY_DATASET']
    cleaned = course_clean(GREEN_MONTH, 'green')
    pickup_dates = set(cleaned['lpep_pickup_datetime'].dt.strftime('%Y-%m-%d'))

    run_ok('api_to_gcs', cloud_env, GREEN_OCT)
    names = objects(bucket)
    assert 'nyc_taxi/green/green_tripdata_2020-10.parquet' in names
    partitions = {n.split('/')[2] for n in names if n.startswith('nyc_taxi/green_partitioned/')}
    assert partitions == {f'pickup_date={d}' for d in pickup_dates}

    run_ok('gcs_to_bigquery', cloud_env, GREEN_OCT)
    client = bigquery_client()
    table = f'local-project.{dataset}.green_tripdata'
    assert client.get_table(table).time_partitioning.field == 'lpep_pickup_datetime'
    assert count_month(client, table, date(2020, 10, 1)) == len(cleaned)

    run_ok('api_to_gcs', cloud_env, GREEN_OCT)  # rerun: the same objects, no stale or extra files
    assert objects(bucket) == names
    run_ok('gcs_to_bigquery', cloud_env, GREEN_OCT)
    assert rows_in(client, table) == len(cleaned)

    run_ok('api_to_gcs', cloud_env, YELLOW_JAN)  # another service and month: green untouched
    after = objects(bucket)
    assert {n: s for n, s in after.items() if '/green' in n} == names
    run_ok('gcs_to_bigquery', cloud_env, YELLOW_JAN)
    assert rows_in(client, f'local-project.{dataset}.yellow_tripdata') == len(course_clean(YELLOW_SAMPLE, 'yellow'))
    assert rows_in(client, table) == len(cleaned)


@pytest.mark.parametrize(
    'pipeline, change, message',
    [
        ('api_to_gcs', {'GCS_BUCKET': 'no-such-bucket'}, "GCS bucket 'no-such-bucket' does not exist"),
        ('api_to_gcs', {'GCS_EMULATOR_URL': 'dead'}, 'cannot reach Google Cloud Storage'),
        ('gcs_to_bigquery', {}, 'does not exist: run api_to_gcs for green_tripdata_2020-10 first'),
        (
            'api_to_gcs',
            {'IO_CONFIG_PROFILE': 'gcp', 'GOOGLE_SERVICE_ACC_KEY_FILEPATH': '/nonexistent/key.json'},
            "GOOGLE_SERVICE_ACC_KEY_FILEPATH of profile 'gcp' is '/nonexistent/key.json', which is not a file",
        ),
    ],
    ids=['missing bucket', 'emulator down', 'month not in GCS yet', 'missing key file'],
)
def test_cloud_faults_fail_clearly_and_write_nothing(cloud_env, pipeline, change, message):
    from scripts.stack.processes import free_port

    env = {**cloud_env, **change}
    if env['GCS_EMULATOR_URL'] == 'dead':
        env['GCS_EMULATOR_URL'] = f'http://127.0.0.1:{free_port()}'
    before = objects(cloud_env['GCS_BUCKET'])
    run = mage_run(REPO, pipeline, env, GREEN_OCT)
    assert run.returncode != 0
    assert message in run.output, run.output[-3000:]
    assert objects(cloud_env['GCS_BUCKET']) == before
    assert not list(bigquery_client().list_datasets()) or cloud_env['BIGQUERY_DATASET'] not in {
        d.dataset_id for d in bigquery_client().list_datasets()
    }


def test_faults_after_a_good_load_leave_it_and_a_rerun_gives_the_same(cloud_env, served):
    """Green 2020-10 is in GCS and BigQuery. Then a damaged source file, the GCS emulator down
    and the BigQuery emulator down: each run fails naming the cause and leaves every object
    (name and md5) and the table's rows as they were; a rerun gives the same objects and rows."""
    from scripts.stack.processes import free_port

    bucket, dataset = cloud_env['GCS_BUCKET'], cloud_env['BIGQUERY_DATASET']
    table = f'local-project.{dataset}.green_tripdata'
    run_ok('api_to_gcs', cloud_env, GREEN_OCT)
    run_ok('gcs_to_bigquery', cloud_env, GREEN_OCT)
    client = bigquery_client()
    good_objects, good_rows = objects(bucket), count_month(client, table, date(2020, 10, 1))
    assert good_rows == len(course_clean(GREEN_MONTH, 'green'))

    def fails(pipeline, env, message):
        run = mage_run(REPO, pipeline, env, GREEN_OCT)
        assert run.returncode != 0
        assert message in run.output, run.output[-3000:]
        assert objects(bucket) == good_objects
        assert count_month(client, table, date(2020, 10, 1)) == good_rows

    data = GREEN_MONTH.read_bytes()
    served('green', 2020, 10, data[: len(data) // 2], gzipped=True)
    fails('api_to_gcs', cloud_env, 'the gzip stream is damaged or truncated')
    served('green', 2020, 10, data, gzipped=True)
    dead = f'http://127.0.0.1:{free_port()}'
    fails('api_to_gcs', {**cloud_env, 'GCS_EMULATOR_URL': dead}, 'cannot reach Google Cloud Storage')
    fails(
        'gcs_to_bigquery',
        {**cloud_env, 'BIGQUERY_EMULATOR_URL': dead},
        f'cannot reach BigQuery for dataset local-project.{dataset}',
    )

    run_ok('api_to_gcs', cloud_env, GREEN_OCT)
    run_ok('gcs_to_bigquery', cloud_env, GREEN_OCT)
    assert objects(bucket) == good_objects
    assert count_month(client, table, date(2020, 10, 1)) == good_rows


def test_module_3_tables_from_the_partitioned_folder(cloud_env):
    """partitioned_to_bigquery after api_to_gcs (yellow 2021-01): the table over the partitioned
    files (on the emulator a loaded copy: it cannot read an external table, and the log says so)
    holds every partitioned row with its pickup_date from the folder names; the partitioned,
    clustered table holds them all, partitioned by the pickup's day and clustered by vendor_id.
    Run again: the same tables. A service with no partitioned file fails naming the folder."""
    dataset = cloud_env['BIGQUERY_DATASET']
    run_ok('api_to_gcs', cloud_env, YELLOW_JAN)
    cleaned = course_clean(YELLOW_SAMPLE, 'yellow')
    days = cleaned['tpep_pickup_datetime'].dt.strftime('%Y-%m-%d').value_counts().sort_index()

    client = bigquery_client()
    for _ in range(2):
        run = run_ok('partitioned_to_bigquery', cloud_env, {'service': 'yellow'})
        assert run.output.count('1/1 tests passed.') == 2, run.output[-3000:]
        assert 'the BigQuery emulator cannot read an external table' in run.output
        external = f'local-project.{dataset}.yellow_tripdata_external'
        by_day = {
            str(r.pickup_date): r.n
            for r in client.query(f'SELECT pickup_date, count(*) AS n FROM `{external}` GROUP BY 1').result()
        }
        assert by_day == days.to_dict()
        table = client.get_table(f'local-project.{dataset}.yellow_tripdata_partitioned_clustered')
        assert (table.time_partitioning.type_, table.time_partitioning.field) == ('DAY', 'tpep_pickup_datetime')
        assert table.clustering_fields == ['vendor_id']
        assert rows_in(client, table.full_table_id.replace(':', '.')) == len(cleaned)

    none = mage_run(REPO, 'partitioned_to_bigquery', cloud_env, {'service': 'fhv'})
    assert none.returncode != 0
    assert f'gs://{cloud_env["GCS_BUCKET"]}/nyc_taxi/fhv_partitioned/ holds no file: run api_to_gcs' in none.output
