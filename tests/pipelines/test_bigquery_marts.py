"""bigquery_marts end to end through `mage run --test` on the emulators, on the bundled REAL
months: BigQuery's mart equals PostgreSQL's (postgres_marts) on the same months, and the course's
computation in pandas; a refresh run again changes nothing (idempotent)."""

import gzip
from datetime import date

import pytest
from conftest import GREEN_MONTH, REPO, YELLOW_SAMPLE, mage_run, query
from course_oracle import mart_figures

from utils.sinks.environment import bigquery_client

pytestmark = pytest.mark.mage
MONTHS = [{'service': 'yellow', 'year': 2021, 'month': 1}, {'service': 'green', 'year': 2020, 'month': 10}]
COLUMNS = (
    'revenue_zone, revenue_month, service_type, total_monthly_trips, revenue_monthly_total_amount, '
    'revenue_monthly_fare, revenue_monthly_tip_amount, revenue_monthly_ehail_fee, avg_monthly_passenger_count, '
    'avg_monthly_trip_distance'
)


def as_dict(rows) -> dict:
    return {tuple(r[:3]): tuple(pytest.approx(v) for v in r[3:]) for r in rows}


def bigquery_mart(env) -> dict:
    table = f'local-project.{env["BIGQUERY_DATASET"]}.dm_monthly_zone_revenue'
    return as_dict([tuple(r.values()) for r in bigquery_client().query(f'SELECT {COLUMNS} FROM `{table}`').result()])


def test_the_bigquery_mart_equals_the_postgres_mart(cloud_env, pg):
    for variables in MONTHS:
        for pipeline in ('api_to_postgres', 'postgres_marts', 'api_to_gcs', 'gcs_to_bigquery', 'bigquery_marts'):
            run = mage_run(REPO, pipeline, cloud_env, variables)
            assert run.returncode == 0, (pipeline, run.output[-3000:])
    assert 'report_mart_refresh: green 2020-10:' in run.output
    in_bigquery = bigquery_mart(cloud_env)
    in_postgres = as_dict(query(pg, f'SELECT {COLUMNS} FROM ny_taxi.dm_monthly_zone_revenue'))
    assert in_bigquery == in_postgres and len(in_bigquery) > 100
    for table in ('dim_zones', 'fact_trips', 'dm_monthly_zone_revenue', 'yellow_tripdata'):
        fields = bigquery_client().get_table(f'local-project.{cloud_env["BIGQUERY_DATASET"]}.{table}').schema
        assert all(f.description for f in fields), (table, [f.name for f in fields if not f.description])
    oracle = mart_figures([('yellow', YELLOW_SAMPLE), ('green', GREEN_MONTH)])
    assert {k: (v[0], v[1]) for k, v in in_bigquery.items()} == {k: (v[0], v[1]) for k, v in oracle.items()}

    again = mage_run(REPO, 'bigquery_marts', cloud_env, MONTHS[0])  # the same month again: nothing changes
    assert again.returncode == 0, again.output[-3000:]
    assert bigquery_mart(cloud_env) == in_bigquery


def bigquery_rows(env, table: str, where: str = 'TRUE') -> tuple:
    """(rows, sum of total_amount or trips) of a table: enough to see any change of its rows."""
    name = f'local-project.{env["BIGQUERY_DATASET"]}.{table}'
    money = 'total_amount' if table == 'fact_trips' else 'total_monthly_trips'
    row = next(
        iter(bigquery_client().query(f'SELECT count(*) AS n, sum({money}) AS s FROM `{name}` WHERE {where}').result())
    )
    return row.n, pytest.approx(row.s)


def load_into_bigquery(env, variables, pipelines=('api_to_gcs', 'gcs_to_bigquery', 'bigquery_marts')):
    for pipeline in pipelines:
        run = mage_run(REPO, pipeline, env, variables)
        assert run.returncode == 0, (pipeline, run.output[-3000:])


def test_reloading_a_month_changes_exactly_its_contribution_in_bigquery(cloud_env, served, tmp_path):
    for variables in MONTHS:
        load_into_bigquery(cloud_env, variables)
    before = bigquery_mart(cloud_env)
    lines = gzip.decompress(YELLOW_SAMPLE.read_bytes()).splitlines(keepends=True)
    smaller = tmp_path / 'yellow_tripdata_2021-01.csv.gz'
    smaller.write_bytes(gzip.compress(b''.join(lines[:600]), mtime=0))
    served('yellow', 2021, 1, smaller.read_bytes(), gzipped=True)
    load_into_bigquery(cloud_env, MONTHS[0])
    after = bigquery_mart(cloud_env)
    assert {k: v for k, v in after.items() if k[2] == 'Green'} == {k: v for k, v in before.items() if k[2] == 'Green'}
    oracle = mart_figures([('yellow', smaller)])
    assert {k: (v[0], v[1]) for k, v in after.items() if k[2] == 'Yellow'} == {
        k: (v[0], v[1]) for k, v in oracle.items()
    }
    assert after != before


def test_a_bigquery_refresh_failing_midway_leaves_the_previous_rows(cloud_env):
    """The month's DELETE has run when its INSERT fails (a column of the source renamed): the
    transaction rolls back, and fact_trips and the contributions keep their rows."""
    load_into_bigquery(cloud_env, MONTHS[0])
    before = [bigquery_rows(cloud_env, t) for t in ('fact_trips', 'int_monthly_zone_revenue')]
    source = f'local-project.{cloud_env["BIGQUERY_DATASET"]}.yellow_tripdata'
    bigquery_client().query(f'ALTER TABLE `{source}` RENAME COLUMN trip_distance TO distance').result()
    try:
        run = mage_run(REPO, 'bigquery_marts', cloud_env, MONTHS[0])
    finally:
        bigquery_client().query(f'ALTER TABLE `{source}` RENAME COLUMN distance TO trip_distance').result()
    assert run.returncode != 0, run.output[-3000:]
    assert [bigquery_rows(cloud_env, t) for t in ('fact_trips', 'int_monthly_zone_revenue')] == before
    assert before[0][0] > 1000


def test_a_services_first_month_without_a_located_trip_builds_its_marts_in_bigquery(cloud_env):
    """fhv 2019-01 (the real lines: every zone empty) is the first month of its marts: the emulator
    fails a job that creates a table of no rows, which the marts' first build works around
    (dbt/taxi_marts/macros/replace_where.sql) without leaving a row of NULLs behind; the next month
    (2019-02: 14 of 100 trips in known zones) adds exactly its rows."""
    fhv = f'local-project.{cloud_env["BIGQUERY_DATASET"]}.fact_fhv_trips'

    def facts() -> list[tuple]:
        query = f'SELECT source_month, count(*) AS n FROM `{fhv}` GROUP BY source_month ORDER BY source_month'
        return [(r.source_month, r.n) for r in bigquery_client().query(query).result()]

    load_into_bigquery(cloud_env, {'service': 'fhv', 'year': 2019, 'month': 1})
    assert facts() == []  # the table is there, empty: no row of NULLs
    load_into_bigquery(cloud_env, {'service': 'fhv', 'year': 2019, 'month': 2})
    assert facts() == [(date(2019, 2, 1), 14)]
