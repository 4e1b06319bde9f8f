"""BigQuery: the month's parquet in GCS -> staging table -> partitioned table, and the SQL.

All SQL text is built here, from validated names. The table `<dataset>.<service>_tripdata` is
partitioned by DATE(pickup) and clustered by source_month, then vendor_id; `source_month` says
which file a row came from. A month is replaced by one multi-statement transaction: DELETE the
month's rows, INSERT the staging rows, COMMIT. Atomic (a failure rolls both back), idempotent,
other months never read nor rewritten: with source_month the first clustering column, the DELETE
reads only the blocks that hold the month, so a month costs about the month, not the table.
"""

from __future__ import annotations

import logging
import re
from datetime import date

from utils.domain.data_dictionary import describe
from utils.domain.taxi_schema import TaxiSchema, snake_case
from utils.sinks.environment import CloudError

log = logging.getLogger(__name__)

_DATASET = re.compile(r'[A-Za-z_][A-Za-z0-9_]{0,1023}')
_PROJECT = re.compile(r'[a-z][a-z0-9-]{4,28}[a-z0-9]')
SOURCE_MONTH = 'source_month'
# source_month first: a month's DELETE prunes blocks; then the service's own (vendor_id, ...)


def cluster_by(taxi_schema: TaxiSchema) -> tuple[str, str]:
    return SOURCE_MONTH, snake_case(taxi_schema.cluster_by)


def check_names(project: str, dataset: str) -> None:
    if not _PROJECT.fullmatch(project or ''):
        raise ValueError(f'GOOGLE_PROJECT_ID {project!r} is not a valid project id')
    if not _DATASET.fullmatch(dataset or ''):
        raise ValueError(f'BIGQUERY_DATASET {dataset!r} is not a valid dataset name (letters, digits, _)')


def table_ids(project: str, dataset: str, service: str, month: date) -> tuple[str, str]:
    """(table, staging table) as project.dataset.name, checked."""
    check_names(project, dataset)
    return (
        f'{project}.{dataset}.{service}_tripdata',
        f'{project}.{dataset}.{service}_tripdata_{month:%Y_%m}_staging',
    )


def bigquery_schema(taxi_schema: TaxiSchema) -> list[tuple[str, str]]:
    """(clean column name, BigQuery type) pairs: timestamps are TIMESTAMP, never INT64."""
    return taxi_schema.bigquery_columns()


def replace_month_sql(table: str, staging: str, taxi_schema: TaxiSchema, month: date, table_exists: bool) -> str:
    """The month's rows out and the staging rows in, in one transaction; or, for the first
    month, the table created from the staging rows."""
    pickup = snake_case(taxi_schema.pickup_column)
    month_literal = f"DATE '{month:%Y-%m-%d}'"
    new_rows = f'SELECT staging.*, {month_literal} AS {SOURCE_MONTH} FROM `{staging}` AS staging'
    if not table_exists:
        return (
            f'CREATE TABLE `{table}`\n'
            f'PARTITION BY DATE({pickup})\n'
            f'CLUSTER BY {", ".join(cluster_by(taxi_schema))}\n'
            f'AS\n{new_rows}'
        )
    columns = ', '.join([*(name for name, _ in bigquery_schema(taxi_schema)), SOURCE_MONTH])
    return (
        'BEGIN TRANSACTION;\n'
        f'DELETE FROM `{table}` WHERE {SOURCE_MONTH} = {month_literal};\n'
        f'INSERT INTO `{table}` ({columns})\n{new_rows};\n'
        'COMMIT TRANSACTION;'
    )


def external_table_id(project: str, dataset: str, service: str) -> str:
    check_names(project, dataset)
    return f'{project}.{dataset}.{service}_tripdata_external'


def external_table_sql(project: str, dataset: str, service: str, bucket: str, prefix: str) -> str:
    """For real GCP: an external table over the hive-partitioned parquet (the emulator has none)."""
    root = f'gs://{bucket}/{prefix.rstrip("/")}'
    return (
        f'CREATE OR REPLACE EXTERNAL TABLE `{external_table_id(project, dataset, service)}`\n'
        f'WITH PARTITION COLUMNS (pickup_date DATE)\n'
        f'OPTIONS (\n'
        f"  format = 'PARQUET',\n"
        f"  uris = ['{root}/*'],\n"
        f"  hive_partition_uri_prefix = '{root}'\n"
        f')'
    )


def load_partitioned_files(client, table: str, bucket: str, prefix: str, location: str | None = None) -> None:
    """The hive-partitioned parquet under gs://bucket/prefix loaded whole into `table` (replaced),
    its pickup_date read from the folder names: what stands in for the external table where
    external tables cannot be read (the BigQuery emulator: its DDL has no EXTERNAL, and one made
    through the API is not found by a query)."""
    from google.cloud import bigquery

    root = f'gs://{bucket}/{prefix.rstrip("/")}'
    hive = bigquery.HivePartitioningOptions()
    hive.mode = 'CUSTOM'
    hive.source_uri_prefix = f'{root}/{{pickup_date:DATE}}'
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET,
        hive_partitioning=hive,
        write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
    )
    try:
        client.load_table_from_uri(f'{root}/*', table, job_config=config, location=location).result()
    except Exception as e:
        raise CloudError(f'BigQuery: loading {root}/* into {table} failed: {e}') from e


def partitioned_clustered_sql(project: str, dataset: str, taxi_schema: TaxiSchema) -> str:
    """The course's module-3 step: a table partitioned by the pickup's day and clustered by the
    service's clustering column, made from the external table."""
    source = external_table_id(project, dataset, taxi_schema.service)
    table = f'{project}.{dataset}.{taxi_schema.service}_tripdata_partitioned_clustered'
    return (
        f'CREATE OR REPLACE TABLE `{table}`\n'
        f'PARTITION BY DATE({snake_case(taxi_schema.pickup_column)})\n'
        f'CLUSTER BY {snake_case(taxi_schema.cluster_by)} AS\n'
        f'SELECT * FROM `{source}`'
    )


def load_month(
    client,
    *,
    project: str,
    dataset: str,
    location: str,
    taxi_schema: TaxiSchema,
    month: date,
    uri: str,
    table_stem: str | None = None,
) -> int:
    """Load `uri` (parquet) as the month of `<dataset>.<table_stem>_tripdata` (default the
    service's name); return its rows."""
    from google.cloud import bigquery

    table, staging = table_ids(project, dataset, table_stem or taxi_schema.service, month)
    ensure_dataset(client, project, dataset)
    job = client.load_table_from_uri(
        uri,
        staging,
        job_config=bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            schema=[bigquery.SchemaField(n, t) for n, t in bigquery_schema(taxi_schema)],
        ),
        location=location,
    )
    job.result()
    try:
        exists = table_exists(client, table)
        if exists:
            add_missing_fields(client, table, taxi_schema)
        client.query(replace_month_sql(table, staging, taxi_schema, month, exists), location=location).result()
    finally:
        client.delete_table(staging, not_found_ok=True)
    describe_columns(client, table)
    rows = count_month(client, table, month, location)
    log.info('replaced %s for %s: %s rows from %s', table, f'{month:%Y-%m}', f'{rows:,}', uri)
    return rows


def add_missing_fields(client, table: str, taxi_schema: TaxiSchema) -> list[str]:
    """Add to the table the columns the service has gained since it was made (a field addition:
    no month is rewritten, the months loaded before read NULL there); return their names."""
    from google.cloud import bigquery

    current = client.get_table(table)
    have = {f.name for f in current.schema}
    new = [bigquery.SchemaField(n, t, mode='NULLABLE') for n, t in bigquery_schema(taxi_schema) if n not in have]
    if new:
        current.schema = [*current.schema, *new]
        client.update_table(current, ['schema'])
        log.info(
            'added the column(s) %s to %s (the months loaded before read NULL there)',
            ', '.join(f.name for f in new),
            table,
        )
    return [f.name for f in new]


def describe_columns(client, table: str) -> None:
    """Column descriptions from the data dictionary (utils/domain/data_dictionary.describe), shown by the
    BigQuery console; the table (or view) is updated only when one is missing or changed."""
    current = client.get_table(table)
    schema = [
        field
        if (describe(field.name) or field.description) == field.description
        else field.__class__.from_api_repr({**field.to_api_repr(), 'description': describe(field.name)})
        for field in current.schema
    ]
    if schema != list(current.schema):
        current.schema = schema
        client.update_table(current, ['schema'])


def table_exists(client, table: str) -> bool:
    from google.api_core.exceptions import NotFound

    try:
        client.get_table(table)
        return True
    except NotFound:
        return False


def ensure_dataset(client, project: str, dataset: str) -> None:
    """Create the dataset if missing: the first call of a load, not retried, so that an
    unreachable endpoint fails at once (the client's default retry keeps trying for 10 min)."""
    from google.cloud import bigquery
    from requests import exceptions as rexc

    try:
        client.create_dataset(bigquery.Dataset(f'{project}.{dataset}'), exists_ok=True, retry=None, timeout=30)
    except (rexc.ConnectionError, rexc.Timeout) as e:
        raise CloudError(f'cannot reach BigQuery for dataset {project}.{dataset}: {type(e).__name__}: {e}') from None


def count_month(client, table: str, month: date, location: str | None = None) -> int:
    from google.cloud import bigquery

    job = client.query(
        f'SELECT count(*) AS n FROM `{table}` WHERE {SOURCE_MONTH} = @month',
        job_config=bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter('month', 'DATE', month)]),
        location=location,
    )
    return next(iter(job.result())).n
