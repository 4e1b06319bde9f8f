"""Views under the names the course's later modules read, over the raw loads (cleaning=raw).

The course's module-4 dbt project (04-analytics-engineering/taxi_rides_ny) reads
`<project>.nytaxi.yellow_tripdata`, `green_tripdata` and `fhv_tripdata` with the TLC's column
names (VendorID, RatecodeID, PULocationID, ...; on PostgreSQL the schema `prod`), and its
homework counts the source files' rows. A raw load keeps every row in `<service>_raw_taxi_data`
(PostgreSQL) and `<dataset>.<service>_raw_tripdata` (BigQuery); each raw load (re)makes the view

    PostgreSQL  prod.<service>_tripdata      the TLC's names in lower case (PostgreSQL folds the
                                             course's unquoted VendorID to vendorid)
    BigQuery    nytaxi.<service>_tripdata    the TLC's names as they are

over it, with every column of the service's entry (utils/domain/taxi_schema.py) and source_month.
"""

from __future__ import annotations

import logging

from psycopg2 import sql

from utils.domain.taxi_schema import TaxiSchema, snake_case
from utils.sinks.postgres_load import check_identifier, table_name

log = logging.getLogger(__name__)

POSTGRES_SCHEMA = 'prod'  # where the course's project, pointed at PostgreSQL, reads
BIGQUERY_DATASET = 'nytaxi'  # the course's dataset


def view_name(schema: TaxiSchema) -> str:
    return f'{schema.service}_tripdata'


def postgres_view(conn, schema_name: str, schema: TaxiSchema) -> str:
    """CREATE OR REPLACE VIEW prod.<service>_tripdata over <schema_name>.<service>_raw_taxi_data."""
    source = sql.Identifier(check_identifier(schema_name, 'POSTGRES_SCHEMA'), table_name(f'{schema.service}_raw'))
    columns = sql.SQL(', ').join(
        sql.SQL('{} AS {}').format(sql.Identifier(snake_case(c)), sql.Identifier(c.lower())) for c in schema.columns
    )
    view = sql.Identifier(POSTGRES_SCHEMA, view_name(schema))
    with conn, conn.cursor() as cur:  # its own transaction, committed
        cur.execute(sql.SQL('CREATE SCHEMA IF NOT EXISTS {}').format(sql.Identifier(POSTGRES_SCHEMA)))
        cur.execute(
            sql.SQL('CREATE OR REPLACE VIEW {} AS SELECT {}, source_month FROM {}').format(view, columns, source)
        )
    name = f'{POSTGRES_SCHEMA}.{view_name(schema)}'
    log.info(
        "the course reads %s: a view of %s.%s with the TLC's column names",
        name,
        schema_name,
        table_name(f'{schema.service}_raw'),
    )
    return name


def bigquery_view(client, target, schema: TaxiSchema) -> str:
    """CREATE OR REPLACE VIEW nytaxi.<service>_tripdata over <dataset>.<service>_raw_tripdata."""
    from utils.sinks.bigquery_load import check_names, ensure_dataset

    check_names(target.project, target.dataset)
    ensure_dataset(client, target.project, BIGQUERY_DATASET)
    view = f'{target.project}.{BIGQUERY_DATASET}.{view_name(schema)}'
    columns = ', '.join(f'{snake_case(c)} AS {c}' for c in schema.columns)
    client.query(
        f'CREATE OR REPLACE VIEW `{view}` AS SELECT {columns}, source_month '
        f'FROM `{target.project}.{target.dataset}.{schema.service}_raw_tripdata`',
        location=target.location,
    ).result()
    log.info(
        "the course reads %s: a view of %s.%s_raw_tripdata with the TLC's column names",
        view,
        target.dataset,
        schema.service,
    )
    return view
