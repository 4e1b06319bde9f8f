import os
from datetime import date
from pathlib import Path

import pytest
from conftest import GREEN_MONTH
from google.api_core.exceptions import GoogleAPICallError

from utils.domain.cleaning import clean_file
from utils.domain.taxi_files import csv_to_parquet
from utils.domain.taxi_schema import schema_for
from utils.sinks.bigquery_load import (
    bigquery_schema,
    count_month,
    external_table_sql,
    load_month,
    replace_month_sql,
    table_ids,
)
from utils.sinks.environment import bigquery_client, google_target, storage_client
from utils.sinks.gcs_io import open_bucket, upload_file

GREEN = schema_for('green')
OCT, NOV = date(2020, 10, 1), date(2020, 11, 1)


def test_replace_month_sql_snapshot():
    table, staging = table_ids('local-project', 'ny_taxi', 'green', OCT)
    columns = ', '.join(GREEN.clean_columns)
    assert replace_month_sql(table, staging, GREEN, OCT, table_exists=True) == (
        'BEGIN TRANSACTION;\n'
        "DELETE FROM `local-project.ny_taxi.green_tripdata` WHERE source_month = DATE '2020-10-01';\n"
        f'INSERT INTO `local-project.ny_taxi.green_tripdata` ({columns}, source_month)\n'
        "SELECT staging.*, DATE '2020-10-01' AS source_month FROM `local-project.ny_taxi.green_tripdata_2020_10_staging` AS staging;\n"
        'COMMIT TRANSACTION;'
    )
    assert replace_month_sql(table, staging, GREEN, OCT, table_exists=False) == (
        'CREATE TABLE `local-project.ny_taxi.green_tripdata`\nPARTITION BY DATE(lpep_pickup_datetime)\n'
        'CLUSTER BY source_month, vendor_id\nAS\n'
        "SELECT staging.*, DATE '2020-10-01' AS source_month FROM `local-project.ny_taxi.green_tripdata_2020_10_staging` AS staging"
    )


def test_a_month_replacement_never_reads_or_rewrites_the_other_months():
    """The whole-table rewrite (CREATE OR REPLACE ... SELECT <other months> UNION ALL ...) is gone:
    the only read of the table is the DELETE's filter on the month (its first clustering column)."""
    table, staging = table_ids('local-project', 'ny_taxi', 'green', OCT)
    sql = replace_month_sql(table, staging, GREEN, OCT, table_exists=True)
    assert 'CREATE OR REPLACE' not in sql and 'UNION' not in sql and '!=' not in sql
    assert sql.count(f'FROM `{table}`') == 1 and f"FROM `{table}` WHERE source_month = DATE '2020-10-01';" in sql


def test_external_table_sql_snapshot():
    assert external_table_sql('my-project', 'ny_taxi', 'green', 'my-bucket', 'nyc_taxi/green_partitioned/') == (
        'CREATE OR REPLACE EXTERNAL TABLE `my-project.ny_taxi.green_tripdata_external`\n'
        'WITH PARTITION COLUMNS (pickup_date DATE)\n'
        'OPTIONS (\n'
        "  format = 'PARQUET',\n"
        "  uris = ['gs://my-bucket/nyc_taxi/green_partitioned/*'],\n"
        "  hive_partition_uri_prefix = 'gs://my-bucket/nyc_taxi/green_partitioned'\n"
        ')'
    )


@pytest.mark.parametrize(
    'project, dataset', [('local-project', 'ny_taxi`; DROP TABLE x; --'), ('x', 'ny_taxi'), ('local-project', '')]
)
def test_bad_names_are_refused(project, dataset):
    with pytest.raises(ValueError, match='is not a valid'):
        table_ids(project, dataset, 'green', OCT)


def test_timestamps_are_timestamp_not_int64():
    types = dict(bigquery_schema(GREEN))
    assert types['lpep_pickup_datetime'] == types['lpep_dropoff_datetime'] == 'TIMESTAMP'
    assert (
        types['vendor_id'] == 'INT64' and types['fare_amount'] == 'FLOAT64' and types['store_and_fwd_flag'] == 'STRING'
    )


@pytest.fixture(scope='module')
def green_clean(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp('green')
    csv_to_parquet(GREEN_MONTH, folder / 'raw.parquet', GREEN, 'green')
    clean_file(folder / 'raw.parquet', folder / 'clean.parquet', GREEN)
    return folder / 'clean.parquet'


def load(month: date, uri: str) -> int:
    t = google_target()
    return load_month(
        bigquery_client(),
        project=t.project,
        dataset=t.dataset,
        location=t.location,
        taxi_schema=GREEN,
        month=month,
        uri=uri,
    )


def test_load_rerun_and_second_month_on_the_emulator(cloud_env, green_clean):
    bucket = open_bucket(storage_client(), google_target().bucket)
    uri = upload_file(bucket, green_clean, 'nyc_taxi/green/green_tripdata_2020-10.parquet')
    assert load(OCT, uri) == 52_351
    client = bigquery_client()
    table_id, staging_id = table_ids('local-project', cloud_env['BIGQUERY_DATASET'], 'green', OCT)
    table = client.get_table(table_id)
    assert table.time_partitioning.type_ == 'DAY' and table.time_partitioning.field == 'lpep_pickup_datetime'
    assert table.clustering_fields == ['source_month', 'vendor_id']
    assert all(f.description for f in table.schema), [f.name for f in table.schema if not f.description]
    fields = {f.name: f.field_type for f in table.schema}
    assert fields['lpep_pickup_datetime'] == 'TIMESTAMP' and fields['source_month'] == 'DATE'
    assert load(OCT, uri) == 52_351  # rerun: replaced, not doubled
    assert load(NOV, uri) == 52_351  # another month beside it
    assert count_month(client, table_id, OCT) == 52_351
    assert next(iter(client.query(f'SELECT count(*) AS n FROM `{table_id}`').result())).n == 2 * 52_351
    assert staging_id.split('.')[-1] not in {t.table_id for t in client.list_tables(cloud_env['BIGQUERY_DATASET'])}


def test_a_replacement_failing_midway_leaves_the_month(cloud_env, green_clean):
    """The INSERT fails after the DELETE ran (a staging table of the wrong shape): the
    transaction rolls the DELETE back, and the month keeps its rows."""
    bucket = open_bucket(storage_client(), google_target().bucket)
    load(OCT, upload_file(bucket, green_clean, 'nyc_taxi/green/green_tripdata_2020-10.parquet'))
    client = bigquery_client()
    table_id, staging_id = table_ids('local-project', cloud_env['BIGQUERY_DATASET'], 'green', OCT)
    client.query(f"CREATE TABLE `{staging_id}` AS SELECT 'not a row of trips' AS x").result()
    with pytest.raises(GoogleAPICallError):  # the INSERT's type error, after the DELETE ran
        client.query(replace_month_sql(table_id, staging_id, GREEN, OCT, table_exists=True)).result()
    assert count_month(client, table_id, OCT) == 52_351


def test_missing_object_fails_and_leaves_the_table(cloud_env, green_clean):
    bucket = open_bucket(storage_client(), google_target().bucket)
    uri = upload_file(bucket, green_clean, 'nyc_taxi/green/green_tripdata_2020-10.parquet')
    load(OCT, uri)
    table_id, _ = table_ids('local-project', cloud_env['BIGQUERY_DATASET'], 'green', OCT)
    with pytest.raises(Exception, match=r'No files found|Not found|not found'):
        load(OCT, f'gs://{bucket.name}/nyc_taxi/green/green_tripdata_1999-01.parquet')
    assert count_month(bigquery_client(), table_id, OCT) == 52_351


@pytest.mark.gcp
@pytest.mark.skipif(
    not os.path.isfile(os.environ.get('GOOGLE_SERVICE_ACC_KEY_FILEPATH', '') or '/nonexistent'),
    reason='real GCP: set IO_CONFIG_PROFILE=gcp, GOOGLE_SERVICE_ACC_KEY_FILEPATH and the GCP project/bucket/dataset',
)
def test_external_table_on_real_gcp(monkeypatch):
    """Only on real GCP (the emulator has no external tables): needs api_to_gcs run there first."""
    monkeypatch.setenv('IO_CONFIG_PROFILE', 'gcp')
    t = google_target()
    client = bigquery_client()
    client.query(external_table_sql(t.project, t.dataset, 'green', t.bucket, 'nyc_taxi/green_partitioned/')).result()
    rows = next(
        iter(
            client.query(
                f'SELECT count(*) AS n FROM `{t.project}.{t.dataset}.green_tripdata_external` '
                "WHERE pickup_date BETWEEN '2020-10-01' AND '2020-10-31'"
            ).result()
        )
    ).n
    assert rows > 0
