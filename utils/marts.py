"""The Python steps of postgres_marts (its SQL is in transformers/*.sql, Mage SQL blocks).

    load_taxi_zones           <NYC_TLC_BASE_URL>/misc/taxi_zone_lookup.csv, checked (utils/zones.py)
    export_zones_to_postgres  <POSTGRES_SCHEMA>.dim_zones, replaced whole, atomically
    check_source_month        the run's service/year/month, checked before any SQL names them
    fact_trips.sql            (SQL) the source month's trips with their zones, replacing that month's
    dm_monthly_zone_revenue.sql (SQL) the month's contribution to the course's revenue mart
    report_mart_refresh       one line: the month's trips, those left out for an unknown zone
    remove_work_files         (the shared block) the run's files
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import pyarrow.parquet as pq

from utils.environment import postgres_connection, postgres_schema, source_base_url
from utils.month_lock import locked
from utils.postgres_load import check_identifier, comment_columns, replace_table, table_name
from utils.taxi_pipeline import Manifest, run_dir, timed, writing_in
from utils.taxi_source import TaxiMonth, download
from utils.zones import SCHEMA, TABLE, read_zone_lookup, zones_url

log = logging.getLogger(__name__)


@timed
def load_zones(variables: Mapping[str, Any]) -> Manifest:
    """The zone lookup from the source into <work>/zones.parquet, checked line by line."""
    folder = run_dir('taxi_zone_lookup', variables)
    url = zones_url(source_base_url())
    with writing_in(folder):
        download(url, folder / 'taxi_zone_lookup.csv', gzipped=False)
        zones = read_zone_lookup(folder / 'taxi_zone_lookup.csv', url)
        pq.write_table(zones, folder / 'zones.parquet')
    log.info('load_taxi_zones: %d zones from %s', zones.num_rows, url)
    return {'url': url, 'zones': zones.num_rows, 'zones_path': str(folder / 'zones.parquet'), 'work_dir': str(folder)}


@timed
def export_zones_to_postgres(manifest: Manifest) -> Manifest:
    """Replace <POSTGRES_SCHEMA>.dim_zones with the checked lookup (idempotent, atomic)."""
    schema_name = check_identifier(postgres_schema(), 'POSTGRES_SCHEMA')
    with locked(f'postgres:{schema_name}.{TABLE}'), postgres_connection() as conn:
        rows = replace_table(conn, schema_name=schema_name, table=TABLE, arrow_schema=SCHEMA,
                             batches=pq.read_table(manifest['zones_path']).to_batches())
    return {**manifest, 'table': f'{schema_name}.{TABLE}', 'rows_loaded': rows}


def check_source_month(zones: Manifest, variables: Mapping[str, Any]) -> Manifest:
    """The source month whose rows changed (service, year, month), checked, and its table found:
    the SQL blocks after this one put these values into their SQL."""
    month = TaxiMonth.from_vars(variables)
    schema_name = check_identifier(postgres_schema(), 'POSTGRES_SCHEMA')
    source = f'{schema_name}.{table_name(month.service)}'
    with postgres_connection() as conn, conn.cursor() as cur:
        cur.execute('SELECT to_regclass(%s), to_regclass(%s)', (source, f'{schema_name}.{TABLE}'))
        found_source, found_zones = cur.fetchone()
    if found_source is None:
        raise LookupError(f'{source} does not exist: load {month.service} {month.year}-{month.month:02d} '
                          'with api_to_postgres first')
    if found_zones is None:
        raise LookupError(f'{schema_name}.{TABLE} does not exist: this pipeline loads it in export_zones_to_postgres')
    return {**zones, **month.to_dict(), 'source_table': source}


def report_refresh(manifest: Manifest) -> Manifest:
    """How many of the month's trips the mart holds, and how many were left out because their
    pickup or drop-off zone is unknown (missing from dim_zones, or the 'Unknown' borough)."""
    month = TaxiMonth.from_vars(manifest)
    schema_name = postgres_schema()
    service_type = month.service.capitalize()
    with postgres_connection() as conn, conn.cursor() as cur:
        cur.execute(f'SELECT count(*) FROM {manifest["source_table"]} WHERE source_month = %s', (month.first_day,))
        source_rows = cur.fetchone()[0]
        cur.execute(f'SELECT count(*) FROM {schema_name}.fact_trips WHERE service_type = %s AND source_month = %s',
                    (service_type, month.first_day))
        fact_rows = cur.fetchone()[0]
        for table in ('fact_trips', 'int_monthly_zone_revenue', 'dm_monthly_zone_revenue'):
            comment_columns(cur, schema_name, table)  # the data dictionary, for \d+
        conn.commit()
    log.info('report_mart_refresh: %s %s: %s trips in fact_trips, %s left out for an unknown pickup or drop-off '
             'zone', month.service, f'{month.first_day:%Y-%m}', f'{fact_rows:,}', f'{source_rows - fact_rows:,}')
    return {**manifest, 'source_rows': source_rows, 'fact_rows': fact_rows, 'left_out': source_rows - fact_rows}
