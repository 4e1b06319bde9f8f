"""The steps of partitioned_to_bigquery, the course's module-3 start (BigQuery: external table,
partitioning and clustering), from the folder api_to_gcs writes:

    gs://<bucket>/nyc_taxi/<service>_partitioned/pickup_date=YYYY-MM-DD/*.parquet

    create_external_table              <dataset>.<service>_tripdata_external over those files
                                       (real BigQuery: an EXTERNAL table, the course's DDL; the
                                       emulator, which cannot read one: the files loaded into a
                                       table of that name, replaced, and the log says so)
    create_partitioned_clustered_table <dataset>.<service>_tripdata_partitioned_clustered, made from
                                       it: PARTITION BY DATE(pickup), CLUSTER BY the service's
                                       column (vendor_id for yellow and green)

Each step replaces its table whole (CREATE OR REPLACE, or a WRITE_TRUNCATE load): a run again
gives the same tables. The SQL is built in utils/sinks/bigquery_load.py.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from utils.domain.taxi_schema import schema_for, snake_case
from utils.sinks import gcs_io
from utils.sinks.bigquery_load import (
    ensure_dataset,
    external_table_id,
    external_table_sql,
    load_partitioned_files,
    partitioned_clustered_sql,
)
from utils.sinks.environment import (
    CloudError,
    bigquery_client,
    bigquery_reads_external_tables,
    google_target,
    storage_client,
)

log = logging.getLogger(__name__)
DEFAULT_SERVICE = 'yellow'


def _rows(client, table: str, location: str) -> tuple[int, int]:
    """(rows, distinct pickup days) of the table."""
    row = next(
        iter(client.query(f'SELECT count(*), count(DISTINCT pickup_date) FROM `{table}`', location=location).result())
    )
    return int(row[0]), int(row[1])


def create_external_table(variables: Mapping[str, Any]) -> dict[str, Any]:
    service = str(variables.get('service') or DEFAULT_SERVICE)
    schema_for(service)  # an unknown service is named before anything is made
    target, client = google_target(), bigquery_client()
    prefix = gcs_io.partitioned_prefix(service)
    if next(iter(storage_client().list_blobs(target.bucket, prefix=prefix, max_results=1)), None) is None:
        raise CloudError(f'gs://{target.bucket}/{prefix} holds no file: run api_to_gcs for a month of {service} first')
    ensure_dataset(client, target.project, target.dataset)
    table = external_table_id(target.project, target.dataset, service)
    if bigquery_reads_external_tables():
        client.query(external_table_sql(target.project, target.dataset, service, target.bucket, prefix)).result()
        kind = 'external'
    else:
        load_partitioned_files(client, table, target.bucket, prefix, target.location)
        kind = 'loaded'
        log.info(
            'the BigQuery emulator cannot read an external table: gs://%s/%s* loaded into %s instead (a copy; '
            'on BigQuery it is an external table over the files)',
            target.bucket,
            prefix,
            table,
        )
    rows, days = _rows(client, table, target.location)
    log.info(
        '%s (%s): %s rows on %d pickup days, from gs://%s/%s*', table, kind, f'{rows:,}', days, target.bucket, prefix
    )
    return {'service': service, 'external_table': table, 'kind': kind, 'rows': rows, 'pickup_days': days}


def create_partitioned_clustered_table(manifest: Mapping[str, Any]) -> dict[str, Any]:
    schema = schema_for(str(manifest['service']))
    target, client = google_target(), bigquery_client()
    client.query(partitioned_clustered_sql(target.project, target.dataset, schema), location=target.location).result()
    table = f'{target.project}.{target.dataset}.{schema.service}_tripdata_partitioned_clustered'
    rows, days = _rows(client, table, target.location)
    made = client.get_table(table)
    log.info(
        '%s: %s rows, partitioned by DATE(%s) into %d days, clustered by %s',
        table,
        f'{rows:,}',
        snake_case(schema.pickup_column),
        days,
        ', '.join(made.clustering_fields or []),
    )
    return {
        **manifest,
        'partitioned_table': table,
        'partitioned_rows': rows,
        'partitioned_by': made.time_partitioning.field if made.time_partitioning else None,
        'clustered_by': list(made.clustering_fields or []),
    }
