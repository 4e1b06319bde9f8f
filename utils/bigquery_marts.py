"""The steps of bigquery_marts: dim_zones, fact_trips and dm_monthly_zone_revenue in BigQuery.

Mage's BigQuery SQL blocks cannot reach the local emulator (its BigQuery io takes a service
account key and has no endpoint setting), so the SQL lives in sql/bigquery/*.sql, one copy of
each query's logic for BigQuery's dialect (the PostgreSQL copy is transformers/*.sql), and these
steps render it and run it through the project's own client (utils/environment.py): the same
code on the emulator and on real BigQuery.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import jinja2

from utils import bigquery_load
from utils.environment import REPO_ROOT, bigquery_client, google_target
from utils.month_lock import locked
from utils.taxi_pipeline import Manifest, timed
from utils.taxi_source import TaxiMonth
from utils.zones import TABLE as ZONES_TABLE

log = logging.getLogger(__name__)

SQL = jinja2.Environment(loader=jinja2.FileSystemLoader(REPO_ROOT / 'sql' / 'bigquery'),
                         undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
ZONES_SCHEMA = [('location_id', 'INT64'), ('borough', 'STRING'), ('zone', 'STRING'), ('service_zone', 'STRING')]


def _table(name: str) -> str:
    target = google_target()
    bigquery_load.check_names(target.project, target.dataset)
    return f'{target.project}.{target.dataset}.{name}'


@timed
def export_zones(manifest: Manifest) -> Manifest:
    """Replace <dataset>.dim_zones with the checked lookup: a load job that truncates the table,
    atomic in BigQuery (the old rows stay until the job succeeds)."""
    from google.cloud import bigquery

    target, client = google_target(), bigquery_client()
    table = _table(ZONES_TABLE)
    bigquery_load.ensure_dataset(client, target.project, target.dataset)
    with locked(f'bigquery:{table}'), open(manifest['zones_path'], 'rb') as f:
        client.load_table_from_file(f, table, location=target.location, job_config=bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            schema=[bigquery.SchemaField(n, t) for n, t in ZONES_SCHEMA],
        )).result()
    rows = next(iter(client.query(f'SELECT count(*) AS n FROM `{table}`', location=target.location).result())).n
    log.info('export_zones_to_bigquery: %d zones -> %s', rows, table)
    return {**manifest, 'bigquery_table': table, 'rows_loaded': rows}


def check_source_month(zones: Manifest, variables: Mapping[str, Any]) -> Manifest:
    """The source month to refresh (service, year, month), checked, and its trips table found."""
    month = TaxiMonth.from_vars(variables)
    trips = _table(f'{month.service}_tripdata')
    if not bigquery_load.table_exists(bigquery_client(), trips):
        raise LookupError(f'{trips} does not exist: load {month.service} {month.first_day:%Y-%m} with api_to_gcs '
                          'and gcs_to_bigquery first')
    return {**zones, **month.to_dict(), 'source_table': trips}


@timed
def refresh(manifest: Manifest, sql_file: str, table: str) -> Manifest:
    """Render sql/bigquery/<sql_file> for the month and run it as one script: it creates `table`
    from the month's rows, or replaces the month's rows in one transaction."""
    month = TaxiMonth.from_vars(manifest)
    target, client = google_target(), bigquery_client()
    full = _table(table)
    with locked(f'bigquery:{full}', month.year * 100 + month.month, f' for {month.first_day:%Y-%m}'):
        script = SQL.get_template(sql_file).render(
            project=target.project, dataset=target.dataset, service=month.service,
            month=f'{month.first_day:%Y-%m-%d}', table_exists=bigquery_load.table_exists(client, full))
        client.query(script, location=target.location).result()
    log.info('%s: %s %s refreshed in %s', sql_file, month.service, f'{month.first_day:%Y-%m}', full)
    return manifest


def report(manifest: Manifest) -> Manifest:
    """The month's trips in fact_trips, and those left out for an unknown zone."""
    from google.cloud import bigquery

    month = TaxiMonth.from_vars(manifest)
    client, location = bigquery_client(), google_target().location
    config = bigquery.QueryJobConfig(query_parameters=[
        bigquery.ScalarQueryParameter('month', 'DATE', month.first_day),
        bigquery.ScalarQueryParameter('service_type', 'STRING', month.service.capitalize()),
    ])

    def count(sql: str) -> int:
        return next(iter(client.query(sql, job_config=config, location=location).result())).n

    for table in ('fact_trips', 'int_monthly_zone_revenue', 'dm_monthly_zone_revenue', ZONES_TABLE):
        bigquery_load.describe_columns(client, _table(table))  # the data dictionary, for the console
    source_rows = count(f'SELECT count(*) AS n FROM `{manifest["source_table"]}` WHERE source_month = @month')
    fact_rows = count(f'SELECT count(*) AS n FROM `{_table("fact_trips")}` '
                      'WHERE service_type = @service_type AND source_month = @month')
    log.info('report_bigquery_marts: %s %s: %s trips in fact_trips, %s left out for an unknown pickup or drop-off '
             'zone', month.service, f'{month.first_day:%Y-%m}', f'{fact_rows:,}', f'{source_rows - fact_rows:,}')
    return {**manifest, 'source_rows': source_rows, 'fact_rows': fact_rows, 'left_out': source_rows - fact_rows}
