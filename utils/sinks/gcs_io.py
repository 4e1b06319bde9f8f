"""Parquet in Google Cloud Storage: one object per month, and a dataset partitioned by pickup date.

    nyc_taxi/<service>/<service>_tripdata_<YYYY>-<MM>.parquet
    nyc_taxi/<service>_partitioned/pickup_date=<YYYY-MM-DD>/<service>_tripdata_<YYYY>-<MM>-<i>.parquet

Every partition file is named after the month it came from, so a month's files can be found,
replaced and pruned without touching other months' files in the same pickup_date folder (a
January file holds some trips picked up on 31 December). A rerun uploads the new files over the
old names, then deletes the month's files that the new set no longer has.
"""

from __future__ import annotations

import gc
import logging
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from utils.domain.taxi_files import BATCH_ROWS
from utils.domain.taxi_schema import TaxiSchema, snake_case
from utils.domain.taxi_source import TaxiMonth
from utils.sinks.environment import CloudError, ConfigError

log = logging.getLogger(__name__)

ROOT_PREFIX = 'nyc_taxi'
_DEFAULT = object()  # the google client's own retry policy
PARTITION_COLUMN = 'pickup_date'


def monthly_object(month: TaxiMonth) -> str:
    return f'{ROOT_PREFIX}/{month.table_stem}/{month.file_stem}.parquet'


def partitioned_prefix(service: str) -> str:
    return f'{ROOT_PREFIX}/{service}_partitioned/'


def is_month_partition_file(name: str, month: TaxiMonth) -> bool:
    folder, _, base = name.rpartition('/')
    return (
        folder.startswith(partitioned_prefix(month.table_stem) + f'{PARTITION_COLUMN}=')
        and re.fullmatch(re.escape(month.file_stem) + r'-\d+\.parquet', base) is not None
    )


def rows_by_pickup_date(objects: dict[str, int], column: str = PARTITION_COLUMN) -> dict[str, int]:
    """{'YYYY-MM-DD': rows} from {partition object name: rows} (hive folders `<column>=...`)."""
    days: dict[str, int] = {}
    for name, rows in objects.items():
        day = name.split(f'{column}=')[1].split('/')[0]
        days[day] = days.get(day, 0) + rows
    return days


def open_bucket(client, name: str):
    """The bucket, checked to exist (one request, not retried: a dead endpoint fails at once)."""
    from google.api_core import exceptions as gexc
    from requests import exceptions as rexc

    try:
        bucket = client.lookup_bucket(name, retry=None, timeout=30)
    except (gexc.GoogleAPIError, rexc.RequestException) as e:
        raise CloudError(f'cannot reach Google Cloud Storage for bucket {name!r}: {type(e).__name__}: {e}') from None
    if bucket is None:
        raise ConfigError(f'GCS bucket {name!r} does not exist (setting GCS_BUCKET): create it first')
    return bucket


def upload_file(bucket, path: Path, name: str, retry=_DEFAULT) -> str:
    """Upload one file as one object (the client's default retry: up to 120 s on errors)."""
    from google.api_core import exceptions as gexc
    from requests import exceptions as rexc

    options = {} if retry is _DEFAULT else {'retry': retry}
    try:
        bucket.blob(name).upload_from_filename(str(path), content_type='application/octet-stream', **options)
    except (gexc.GoogleAPIError, rexc.RequestException) as e:
        raise CloudError(
            f'uploading {path.name} to gs://{bucket.name}/{name} failed: {type(e).__name__}: {e}'
        ) from None
    return f'gs://{bucket.name}/{name}'


def parquet_rows_in_gcs(bucket, name: str) -> int:
    """Row count from the object's parquet footer (ranged reads, not the whole object)."""
    with bucket.blob(name).open('rb') as f:
        return pq.ParquetFile(f).metadata.num_rows


def write_partitions(clean_path: Path, out_dir: Path, schema: TaxiSchema, month: TaxiMonth) -> dict[str, int]:
    """Stream clean.parquet into hive partitions pickup_date=YYYY-MM-DD under out_dir.

    Returns {relative file path: rows}. The partition column lives in the folder name only.
    """
    columns = {name: pc.field(name) for name in schema.clean_columns}
    columns[PARTITION_COLUMN] = pc.field(snake_case(schema.pickup_column)).cast(pa.date32())
    return write_hive_partitions(clean_path, out_dir, columns, PARTITION_COLUMN, month.file_stem)


def write_hive_partitions(
    src: Path, out_dir: Path, columns: dict[str, pc.Expression], partition_column: str, basename: str
) -> dict[str, int]:
    """Stream a parquet file into hive partitions `<partition_column>=YYYY-MM-DD/<basename>-<i>.parquet`
    under out_dir, with the given column expressions; returns {relative file path: rows}."""
    written: dict[str, int] = {}

    def visit(f: ds.WrittenFile) -> None:
        written[str(Path(f.path).relative_to(out_dir))] = f.metadata.num_rows

    # a scanner, not a Python generator: pyarrow's writer threads never call back into Python
    scanner = ds.dataset(src, format='parquet').scanner(columns=columns, batch_size=BATCH_ROWS)
    try:
        ds.write_dataset(
            scanner,
            out_dir,
            format='parquet',
            partitioning=ds.partitioning(pa.schema([(partition_column, pa.date32())]), flavor='hive'),
            basename_template=f'{basename}-{{i}}.parquet',
            existing_data_behavior='delete_matching',
            file_visitor=visit,
            max_partitions=4096,
            preserve_order=True,  # a rerun writes byte-identical files
        )
    finally:
        # apache/arrow#36980: dataset-writer threads that outlive this call can abort the
        # interpreter at exit ("terminate called without an active exception"): drop them now.
        del scanner
        gc.collect()
    return written


def upload_partitions(
    bucket, files_in: Path, files: dict[str, int], prefix: str, is_ours: Callable[[str], bool], retry=_DEFAULT
) -> tuple[dict[str, int], int]:
    """Upload the partition files written under files_in to `prefix`, then delete the objects
    under `prefix` that `is_ours` and the new set no longer has. Returns ({object: rows}, deleted).

    GCS has no transaction over several objects: if an upload fails partway, the objects are a
    mix of old and new until a rerun rewrites them all and deletes the stale ones.
    """
    uploaded = {}
    for relative, rows in sorted(files.items()):
        upload_file(bucket, files_in / relative, prefix + relative, retry)
        uploaded[prefix + relative] = rows
    stale = [b for b in bucket.list_blobs(prefix=prefix) if is_ours(b.name) and b.name not in uploaded]
    for blob in stale:
        blob.delete()
    return uploaded, len(stale)


def upload_month_partitions(
    bucket, clean_path: Path, schema: TaxiSchema, month: TaxiMonth, retry=_DEFAULT
) -> dict[str, int]:
    """Replace the month's files in the partitioned dataset; return {object name: rows}."""
    prefix = partitioned_prefix(month.table_stem)
    with tempfile.TemporaryDirectory(prefix='partitions-') as tmp:
        files = write_partitions(clean_path, Path(tmp), schema, month)
        uploaded, stale = upload_partitions(
            bucket, Path(tmp), files, prefix, lambda name: is_month_partition_file(name, month), retry
        )
    log.info(
        'wrote %s rows of %s to gs://%s/%s in %d pickup_date partitions (%d stale files removed)',
        f'{sum(uploaded.values()):,}',
        month.file_stem,
        bucket.name,
        prefix,
        len(rows_by_pickup_date(uploaded)),
        stale,
    )
    return uploaded


def month_partition_objects(bucket, month: TaxiMonth) -> list[str]:
    return sorted(
        b.name
        for b in bucket.list_blobs(prefix=partitioned_prefix(month.table_stem))
        if is_month_partition_file(b.name, month)
    )
