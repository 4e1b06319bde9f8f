"""bigquery_marts end to end through `mage run --test` on the emulators, on the bundled REAL
months: BigQuery's mart equals PostgreSQL's (postgres_marts) on the same months, and the course's
computation in pandas; a refresh run again changes nothing (idempotent)."""

import pytest
from conftest import GREEN_MONTH, REPO, YELLOW_SAMPLE, mage_run, query
from course_oracle import mart_figures

from utils.environment import bigquery_client

pytestmark = pytest.mark.mage
MONTHS = [{'service': 'yellow', 'year': 2021, 'month': 1}, {'service': 'green', 'year': 2020, 'month': 10}]
COLUMNS = ('revenue_zone, revenue_month, service_type, total_monthly_trips, revenue_monthly_total_amount, '
           'revenue_monthly_fare, revenue_monthly_tip_amount, revenue_monthly_ehail_fee, avg_monthly_passenger_count, '
           'avg_monthly_trip_distance')


def as_dict(rows) -> dict:
    return {tuple(r[:3]): tuple(pytest.approx(v) for v in r[3:]) for r in rows}


def bigquery_mart(env) -> dict:
    table = f"local-project.{env['BIGQUERY_DATASET']}.dm_monthly_zone_revenue"
    return as_dict([tuple(r.values()) for r in bigquery_client().query(f'SELECT {COLUMNS} FROM `{table}`').result()])


def test_the_bigquery_mart_equals_the_postgres_mart(cloud_env, pg):
    for variables in MONTHS:
        for pipeline in ('api_to_postgres', 'postgres_marts', 'api_to_gcs', 'gcs_to_bigquery', 'bigquery_marts'):
            run = mage_run(REPO, pipeline, cloud_env, variables)
            open('/tmp/bq_out.txt', 'w').write(run.output)
            assert run.returncode == 0, (pipeline, run.output[-3000:])
    assert 'report_mart_refresh: green 2020-10:' in run.output
    in_bigquery = bigquery_mart(cloud_env)
    in_postgres = as_dict(query(pg, f'SELECT {COLUMNS} FROM ny_taxi.dm_monthly_zone_revenue'))
    assert in_bigquery == in_postgres and len(in_bigquery) > 100
    for table in ('dim_zones', 'fact_trips', 'dm_monthly_zone_revenue', 'yellow_tripdata'):
        fields = bigquery_client().get_table(f"local-project.{cloud_env['BIGQUERY_DATASET']}.{table}").schema
        assert all(f.description for f in fields), (table, [f.name for f in fields if not f.description])
    oracle = mart_figures([('yellow', YELLOW_SAMPLE), ('green', GREEN_MONTH)])
    assert {k: (v[0], v[1]) for k, v in in_bigquery.items()} == {k: (v[0], v[1]) for k, v in oracle.items()}

    again = mage_run(REPO, 'bigquery_marts', cloud_env, MONTHS[0])  # the same month again: nothing changes
    assert again.returncode == 0, again.output[-3000:]
    assert bigquery_mart(cloud_env) == in_bigquery
