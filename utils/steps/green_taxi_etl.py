"""The steps of green_taxi_etl, the module-2 homework (2024 cohort, Mage), one function per block.

    load_green_taxi_months         every month of `months` in `year` (default 2020, [10, 11, 12]):
                                   download and parse each, streamed, into its own raw.parquet
    transform_green_taxi           keep passenger_count > 0 and trip_distance > 0 (HOMEWORK_RULES),
                                   columns to snake_case, add lpep_pickup_date -> clean.parquet
    export_green_taxi_to_postgres  mage.green_taxi, replaced whole by each run (the homework's
                                   "replace"): exactly the run's months
    export_green_taxi_to_gcs       gs://<bucket>/green_taxi/lpep_pickup_date=YYYY-MM-DD/*.parquet,
                                   replacing what an earlier run of this pipeline wrote
    remove_work_files              (the shared block) the run's files go once both exports succeeded

Same HTTP source, schema, malformed-row handling and audit rows as the other pipelines
(utils/steps/taxi_pipeline.fetch_month); the rows stream file -> file -> COPY / upload.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from utils.domain.cleaning import HOMEWORK_RULES, clean_file, clean_schema
from utils.domain.progress import plural
from utils.domain.taxi_files import iter_parquet_batches
from utils.domain.taxi_schema import course_layout
from utils.domain.taxi_source import TaxiMonth
from utils.sinks import gcs_io
from utils.sinks.environment import default_source, google_target, postgres_connection, storage_client
from utils.sinks.month_lock import locked
from utils.sinks.postgres_load import replace_table
from utils.steps.run_files import run_dir, writing_in
from utils.steps.taxi_pipeline import Manifest, fetch_month, timed

log = logging.getLogger(__name__)

SERVICE = 'green'
POSTGRES_SCHEMA = 'mage'  # the homework's schema and table, whatever POSTGRES_SCHEMA says
TABLE = 'green_taxi'
GCS_PREFIX = 'green_taxi/'  # the homework's root_path: <bucket>/<table_name>
SCHEMA = course_layout(SERVICE)  # the course's 20 columns (its CSV's)


def homework_months(variables: Mapping[str, Any]) -> tuple[int, list[int]]:
    """`year` and `months` of the run. `months` is a list of whole numbers 1..12 (JSON through
    --runtime-vars and the API; the UI sends text such as '[10, 11]' or '10,11')."""
    year = TaxiMonth.from_vars({'service': SERVICE, 'year': variables.get('year'), 'month': 1}).year
    given = variables.get('months')
    months = given
    if isinstance(months, str):
        text = months.strip()
        try:
            months = json.loads(text if text.startswith('[') else f'[{text}]')
        except ValueError:
            months = None
    if isinstance(months, int) and not isinstance(months, bool):
        months = [months]
    valid = (
        isinstance(months, list)
        and months
        and all(isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 12 for m in months)
    )
    if not valid:
        raise ValueError(
            f'pipeline variable months={given!r} must be a non-empty list of whole numbers 1..12, e.g. [10, 11, 12]'
        )
    checked: list[int] = list(months)  # type: ignore[arg-type]  # `valid` above: a list of ints
    if len(set(checked)) != len(checked):
        raise ValueError(f'pipeline variable months={given!r} names a month twice')
    return year, sorted(checked)


@timed
def extract_months(variables: Mapping[str, Any]) -> Manifest:
    """Each month of the run into <work folder>/<file>/raw.parquet. A month the source does not
    have fails the run naming its URL (HTTP 404): no month is skipped and nothing is written."""
    year, months = homework_months(variables)
    folder = run_dir(f'{SERVICE}_tripdata_{year}-{"_".join(f"{m:02d}" for m in months)}', variables)
    block = str(variables.get('block_uuid') or 'load_green_taxi_months')
    source = TaxiMonth.from_vars(
        {'service': SERVICE, 'year': year, 'month': 1, 'source': variables.get('source')}, default_source()
    ).source  # the course's CSV.gz, or the TLC's parquet
    fetched = [
        fetch_month(month, folder / month.file_stem, variables, block, SCHEMA)
        for month in (TaxiMonth(SERVICE, year, m, source) for m in months)
    ]
    manifest = {
        'service': SERVICE,
        'year': year,
        'months': months,
        'work_dir': str(folder),
        'raw_paths': [m.required('raw_path') for m in fetched],
        'rows': sum(m.rows or 0 for m in fetched),
        'rows_rejected': sum(m.rows_rejected or 0 for m in fetched),
        'rows_by_month': {f'{year}-{m.month.month:02d}': m.rows for m in fetched},
    }
    log.info('load_green_taxi_months: %s rows in %s of %d', f'{manifest["rows"]:,}', plural(len(months), 'month'), year)
    return manifest


@timed
def transform(manifest: Manifest) -> Manifest:
    """HOMEWORK_RULES over every month's raw.parquet into one clean.parquet with lpep_pickup_date."""
    folder = Path(manifest['work_dir'])
    with writing_in(folder):
        counts = clean_file(
            [Path(p) for p in manifest['raw_paths']],
            folder / 'clean.parquet',
            SCHEMA,
            HOMEWORK_RULES,
            with_pickup_date=True,
        )
    return {**manifest, 'clean_path': str(folder / 'clean.parquet'), **counts}


@timed
def export_to_postgres(manifest: Manifest) -> Manifest:
    """Replace mage.green_taxi with clean.parquet, atomically; one run at a time."""
    table = f'{POSTGRES_SCHEMA}.{TABLE}'
    with locked(f'postgres:{table}'), postgres_connection() as conn:
        rows = replace_table(
            conn,
            schema_name=POSTGRES_SCHEMA,
            table=TABLE,
            arrow_schema=clean_schema(SCHEMA, with_pickup_date=True),
            batches=iter_parquet_batches(Path(manifest['clean_path'])),
        )
    log.info('export_green_taxi_to_postgres: %s rows -> %s', f'{rows:,}', table)
    return {**manifest, 'table': table, 'rows_loaded': rows}


@timed
def export_to_gcs(manifest: Manifest) -> Manifest:
    """clean.parquet as parquet partitioned by lpep_pickup_date under gs://<bucket>/green_taxi/,
    replacing every object an earlier run wrote there."""
    bucket = gcs_io.open_bucket(storage_client(), google_target().bucket)
    clean = Path(manifest['clean_path'])
    partition = SCHEMA.pickup_date_column
    columns = {name: pc.field(name) for name in clean_schema(SCHEMA, with_pickup_date=True).names}
    with locked(f'gs://{bucket.name}/{GCS_PREFIX}'), tempfile.TemporaryDirectory(prefix='partitions-') as tmp:
        files = gcs_io.write_hive_partitions(clean, Path(tmp), columns, partition, TABLE)
        uploaded, stale = gcs_io.upload_partitions(bucket, Path(tmp), files, GCS_PREFIX, lambda name: True)
    by_date = gcs_io.rows_by_pickup_date(uploaded, partition)
    log.info(
        'export_green_taxi_to_gcs: %s rows -> gs://%s/%s in %d %s partitions (%d earlier files removed)',
        f'{sum(uploaded.values()):,}',
        bucket.name,
        GCS_PREFIX,
        len(by_date),
        partition,
        stale,
    )
    return {
        **manifest,
        'gcs_prefix': f'gs://{bucket.name}/{GCS_PREFIX}',
        'partitions': len(by_date),
        'partition_objects': sorted(uploaded),
        'rows_loaded': sum(uploaded.values()),
    }
