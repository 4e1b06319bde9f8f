"""The Python steps of the mart pipelines; the marts themselves are the dbt project
dbt/taxi_marts (one copy of each model for both warehouses), run by the dbt block.

    load_taxi_zones           <NYC_TLC_BASE_URL>/misc/taxi_zone_lookup.csv, checked (utils/domain/zones.py)
    export_zones_to_postgres  \\ the checked lookup -> taxi_zone_lookup, replaced whole, atomically:
    export_zones_to_bigquery  /  the dbt source of dim_zones
    check_source_month        the run's month (run_month: a backfill's, that of its date) checked, its
                              trips table found; its dbt_vars are the dbt block's --vars
    build_<pipeline>          (dbt build) dim_zones and the service's fact table (fact_trips for
                              yellow and green, then int_monthly_zone_revenue and the marts;
                              fact_fhv_trips for fhv), then their tests, for the run's source month
    report_mart_refresh       the data dictionary onto the marts; one line: the month's trips in
                              its fact table, and those left out for an unknown zone
    remove_work_files         (the shared block) the run's files

postgres_marts and bigquery_marts share these blocks; what differs between the warehouses (where
the tables are, how to count and describe them) is one of the two classes below, picked by the
pipeline (WAREHOUSES).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq

from utils.domain.taxi_source import TaxiMonth, download
from utils.domain.zones import SCHEMA, TABLE, read_zone_lookup, zones_url
from utils.sinks import bigquery_load
from utils.sinks.environment import (
    REPO_ROOT,
    bigquery_client,
    download_settings,
    google_target,
    postgres_connection,
    postgres_schema,
    source_base_url,
)
from utils.sinks.month_lock import locked
from utils.sinks.postgres_load import check_identifier, comment_columns, replace_table, table_name
from utils.steps.run_files import run_dir, writing_in
from utils.steps.run_month import month_of_run
from utils.steps.taxi_pipeline import Manifest, timed

log = logging.getLogger(__name__)
DBT_PROJECT = REPO_ROOT / 'dbt' / 'taxi_marts'


def _fact_tables() -> dict[str, str]:
    """{service: its fact table}, the dbt project's var fact_tables (dbt_project.yml): the
    services with marts, and where their trips go."""
    import yaml

    return dict(yaml.safe_load((DBT_PROJECT / 'dbt_project.yml').read_text())['vars']['fact_tables'])


FACT_TABLES = _fact_tables()
MART_SERVICES = tuple(FACT_TABLES)


def mart_tables(fact: str) -> tuple[str, ...]:
    """The tables of models/core/ a run of a service whose fact table is `fact` builds: those
    enabled for it (a model of one fact table says config(enabled=builds('<fact>'))) and those
    of every run (dim_zones). The describe step gives them the data dictionary."""
    tables = []
    for path in sorted((DBT_PROJECT / 'models' / 'core').glob('*.sql')):
        only_for = re.search(r"enabled=builds\('(\w+)'\)", path.read_text())
        if only_for is None or only_for.group(1) == fact:
            tables.append(path.stem)
    return tuple(tables)


@dataclass(frozen=True)
class Postgres:
    """<POSTGRES_SCHEMA> of the PostgreSQL in io_config.yaml (the dbt target `postgres`)."""

    loaded_by = 'api_to_postgres'

    def table(self, name: str) -> str:
        return f'{check_identifier(postgres_schema(), "POSTGRES_SCHEMA")}.{name}'

    def trips_table(self, service: str) -> str:
        return self.table(table_name(service))

    def exists(self, table: str) -> bool:
        with postgres_connection() as conn, conn.cursor() as cur:
            cur.execute('SELECT to_regclass(%s)', (table,))
            return cur.fetchone()[0] is not None

    def count_month(self, table: str, month: TaxiMonth, service_type: str | None = None) -> int:
        where = 'source_month = %s'
        params: list[Any] = [month.first_day]
        if service_type:
            where, params = where + ' AND service_type = %s', [*params, service_type]
        with postgres_connection() as conn, conn.cursor() as cur:
            cur.execute(f'SELECT count(*) FROM {table} WHERE {where}', params)
            return cur.fetchone()[0]

    def describe(self, tables: tuple[str, ...]) -> None:
        schema_name = check_identifier(postgres_schema(), 'POSTGRES_SCHEMA')  # as table() and the loads check it
        with postgres_connection() as conn, conn.cursor() as cur:
            for name in tables:
                comment_columns(cur, schema_name, name)  # the data dictionary, for \d+
            conn.commit()

    def zone_revenue(self, month: TaxiMonth, limit: int) -> list[tuple]:
        with postgres_connection() as conn, conn.cursor() as cur:
            cur.execute(zone_revenue_sql(self.table('dm_monthly_zone_revenue'), limit), zone_params(month))
            return cur.fetchall()

    def replace_zone_lookup(self, zones_path: str) -> str:
        """<POSTGRES_SCHEMA>.taxi_zone_lookup replaced whole and atomically."""
        schema_name = check_identifier(postgres_schema(), 'POSTGRES_SCHEMA')
        with locked(f'postgres:{schema_name}.{TABLE}'), postgres_connection() as conn:
            replace_table(
                conn,
                schema_name=schema_name,
                table=TABLE,
                arrow_schema=SCHEMA,
                batches=pq.read_table(zones_path).to_batches(),
            )
        return f'{schema_name}.{TABLE}'


@dataclass(frozen=True)
class BigQuery:
    """<BIGQUERY_DATASET> of GOOGLE_PROJECT_ID, the emulator or real BigQuery (dbt target `bigquery`)."""

    loaded_by = 'api_to_gcs and gcs_to_bigquery'

    def table(self, name: str) -> str:
        target = google_target()
        bigquery_load.check_names(target.project, target.dataset)
        return f'{target.project}.{target.dataset}.{name}'

    def trips_table(self, service: str) -> str:
        return self.table(f'{service}_tripdata')

    def exists(self, table: str) -> bool:
        return bigquery_load.table_exists(bigquery_client(), table)

    def count_month(self, table: str, month: TaxiMonth, service_type: str | None = None) -> int:
        from google.cloud import bigquery

        params = [
            bigquery.ScalarQueryParameter('month', 'DATE', month.first_day),
            bigquery.ScalarQueryParameter('service_type', 'STRING', service_type),
        ]
        where = 'source_month = @month' + (' AND service_type = @service_type' if service_type else '')
        job = bigquery_client().query(
            f'SELECT count(*) AS n FROM `{table}` WHERE {where}',
            job_config=bigquery.QueryJobConfig(query_parameters=params),
            location=google_target().location,
        )
        return next(iter(job.result())).n

    def describe(self, tables: tuple[str, ...]) -> None:
        for name in tables:  # the data dictionary, for the console
            bigquery_load.describe_columns(bigquery_client(), self.table(name))

    def zone_revenue(self, month: TaxiMonth, limit: int) -> list[tuple]:
        from google.cloud import bigquery

        params = [
            bigquery.ScalarQueryParameter(name, kind, value)
            for (name, value), kind in zip(zone_params(month).items(), ('DATE', 'STRING'), strict=False)
        ]
        query = re.sub(r'%\((\w+)\)s', r'@\1', zone_revenue_sql(f'`{self.table("dm_monthly_zone_revenue")}`', limit))
        job = bigquery_client().query(
            query, job_config=bigquery.QueryJobConfig(query_parameters=params), location=google_target().location
        )
        return [tuple(row.values()) for row in job.result()]

    def replace_zone_lookup(self, zones_path: str) -> str:
        """<dataset>.taxi_zone_lookup replaced by a load job that truncates the table: atomic in
        BigQuery (the old rows stay until the job succeeds)."""
        from google.cloud import bigquery

        target, client, table = google_target(), bigquery_client(), self.table(TABLE)
        bigquery_load.ensure_dataset(client, target.project, target.dataset)
        with locked(f'bigquery:{table}'), open(zones_path, 'rb') as f:
            client.load_table_from_file(
                f,
                table,
                location=target.location,
                job_config=bigquery.LoadJobConfig(
                    source_format=bigquery.SourceFormat.PARQUET,
                    write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
                    schema=[
                        bigquery.SchemaField(f.name, 'INT64' if f.name == 'location_id' else 'STRING') for f in SCHEMA
                    ],
                ),
            ).result()
        return table


def zone_revenue_sql(table: str, limit: int) -> str:
    """A month's zones by revenue, from the mart dm_monthly_zone_revenue (both dialects; the
    parameters in psycopg2's style, BigQuery's @name made from them)."""
    return (
        f'SELECT revenue_zone AS zone, revenue_monthly_total_amount AS revenue, total_monthly_trips AS trips '
        f'FROM {table} WHERE revenue_month = %(month)s AND service_type = %(service_type)s '
        f'ORDER BY revenue DESC, zone LIMIT {int(limit)}'
    )


def zone_params(month: TaxiMonth) -> dict[str, Any]:
    return {'month': month.first_day, 'service_type': month.service.capitalize()}


# The pipeline picks the warehouse; its dbt block (dbts/build_<pipeline>.yaml) names the same
# one as its dbt target, and keeps dbt's record of its runs in dbt/taxi_marts/target/<target>
# (so runs of both pipelines at once do not mix).
WAREHOUSES: dict[str, Postgres | BigQuery] = {'postgres_marts': Postgres(), 'bigquery_marts': BigQuery()}


def warehouse(pipeline_uuid: str) -> Postgres | BigQuery:
    try:
        return WAREHOUSES[pipeline_uuid]
    except KeyError:
        raise ValueError(
            f'no warehouse for the pipeline {pipeline_uuid!r}: the mart blocks run in {" or ".join(WAREHOUSES)}'
        ) from None


@timed
def load_zones(variables: Mapping[str, Any]) -> Manifest:
    """The zone lookup from the source into <work>/zones.parquet, checked line by line."""
    folder = run_dir('taxi_zone_lookup', variables)
    url = zones_url(source_base_url())
    with writing_in(folder):
        download(url, folder / 'taxi_zone_lookup.csv', gzipped=False, **download_settings())
        zones = read_zone_lookup(folder / 'taxi_zone_lookup.csv', url)
        pq.write_table(zones, folder / 'zones.parquet')
    log.info('load_taxi_zones: %d zones from %s', zones.num_rows, url)
    return {'url': url, 'zones': zones.num_rows, 'zones_path': str(folder / 'zones.parquet'), 'work_dir': str(folder)}


@timed
def export_zones(manifest: Manifest, pipeline_uuid: str) -> Manifest:
    """Replace the warehouse's taxi_zone_lookup with the checked lookup (idempotent, atomic)."""
    table = warehouse(pipeline_uuid).replace_zone_lookup(manifest['zones_path'])
    log.info('export_zones: %d zones -> %s', manifest['zones'], table)
    return {**manifest, 'table': table}


def check_source_month(zones: Manifest, variables: Mapping[str, Any]) -> Manifest:
    """The source month to refresh, checked, and its trips table found: bad variables or a month
    never loaded fail here, naming them, before dbt starts. The month is the run's
    (run_month.month_of_run: a backfill's run refreshes the month of its date, any other run the
    variables' service, year and month); `dbt_vars` hands it to the dbt block, whose content reads
    it with Mage's block_output (dbts/build_*_marts.yaml)."""
    month = month_of_run(variables, quiet=True)
    log.info('check_source_month: refreshing the marts of %s', month.label)
    if month.service not in MART_SERVICES:
        raise ValueError(
            f'the marts (fact_trips, fact_fhv_trips, dm_monthly_zone_revenue) are built from '
            f'{", ".join(MART_SERVICES)} trips, as the course builds them: '
            f'service={month.service!r} has no mart yet'
        )
    where = warehouse(variables['pipeline_uuid'])
    source = where.trips_table(month.service)
    if not where.exists(source):
        raise LookupError(
            f'{source} does not exist: load {month.service} {month.first_day:%Y-%m} with {where.loaded_by} first'
        )
    dbt_vars = {'service': month.service, 'year': month.year, 'month': month.month}
    return {**zones, **month.to_dict(), 'source_table': source, 'dbt_vars': json.dumps(dbt_vars)}


def report_refresh(manifest: Manifest, pipeline_uuid: str) -> Manifest:
    """The data dictionary onto the marts dbt built; how many of the month's trips its fact table
    holds, and how many were left out because their pickup or drop-off zone is unknown (the
    dbt test fact_month_rows_reconcile has checked that these add up)."""
    month, where = TaxiMonth.from_vars(manifest), warehouse(pipeline_uuid)
    fact = FACT_TABLES[month.service]
    where.describe(mart_tables(fact))
    source_rows = where.count_month(manifest['source_table'], month)
    service_type = month.service.capitalize() if fact == 'fact_trips' else None  # fact_trips holds two services
    fact_rows = where.count_month(where.table(fact), month, service_type)
    log.info(
        'report_mart_refresh: %s %s: %s trips in %s, %s left out for an unknown pickup or drop-off zone',
        month.service,
        f'{month.first_day:%Y-%m}',
        f'{fact_rows:,}',
        fact,
        f'{source_rows - fact_rows:,}',
    )
    return {**manifest, 'source_rows': source_rows, 'fact_rows': fact_rows, 'left_out': source_rows - fact_rows}
