"""The steps of the taxi pipelines, one function per Mage block.

Blocks hand each other a small manifest (utils/domain/month_manifest.py: the month, file paths,
counts) while the rows themselves stream file -> file -> database, so no block holds a month in
RAM. Each step reads its input once as a typed MonthManifest and returns it as the JSON-able dict
Mage stores between blocks (.to_output()).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from utils.domain.cleaning import clean_file
from utils.domain.errors import add_note
from utils.domain.month_manifest import MonthManifest
from utils.domain.taxi_files import (
    UTF8,
    check_encoding,
    csv_to_parquet_keeping_rejects,
    first_rows,
    iter_parquet_batches,
    tlc_parquet_to_raw,
)
from utils.domain.taxi_schema import TaxiSchema, schema_for
from utils.domain.taxi_source import MonthRefusedError, TaxiMonth, download
from utils.sinks import bigquery_load, course_views, gcs_io
from utils.sinks.environment import (
    CloudError,
    bigquery_client,
    download_settings,
    google_target,
    postgres_connection,
    postgres_schema,
    source_base_url,
    storage_client,
)
from utils.sinks.month_lock import month_locked
from utils.sinks.postgres_load import count_month, replace_month, table_name
from utils.steps import audit
from utils.steps.run_files import run_dir, writing_in
from utils.steps.run_month import month_of_run
from utils.steps.unchanged import check_target, unchanged_month

log = logging.getLogger(__name__)

Manifest = dict[str, Any]  # a MonthManifest as Mage stores it between blocks (MonthManifest.to_output)
DEFAULT_MAX_REJECT_RATIO = 0.01


def timed(step: Callable[..., Manifest]) -> Callable[..., Manifest]:
    """Log how long a block's step took ('clean_month took 0.52 s'; make bench sums these)."""

    @functools.wraps(step)
    def run(*args: Any, **kwargs: Any) -> Manifest:
        started = time.perf_counter()
        result = step(*args, **kwargs)
        log.info('%s took %.2f s', step.__name__, time.perf_counter() - started)
        return result

    return run


@dataclass
class Attempt:
    result: MonthManifest | None = None  # set by the attempt's body: the manifest the step hands on


@contextmanager
def load_attempt(
    run: Mapping[str, Any] | None, block: str, manifest: MonthManifest, target: str | None = None
) -> Iterator[Attempt]:
    """One attempt of a block that reads the source or loads a target: an audit row
    (utils/steps/audit.py) either way, a line saying what it did when it succeeds, and when it fails,
    an error that names the month and the run's work files (they stay for Mage's retry of the
    run's failed blocks), which the run's alert shows (utils/steps/failures.py). The body sets
    the attempt's `result`."""
    month = manifest.month
    started = time.perf_counter()
    attempt = Attempt()
    with audit.attempt(run, block, month.first_day, manifest.to_output(), target) as outcome:
        try:
            yield attempt
        except Exception as e:  # the note goes into the audit row and the alert too
            kept = (
                f": the run's work files stay in {manifest.work_dir} for a retry of its failed blocks"
                if manifest.work_dir
                else ''
            )
            add_note(e, f'{block} failed for {month.label}{kept}')  # failures.block_failed puts it on the alert
            raise
        finally:
            if attempt.result is not None:  # the audit row's counts
                outcome['result'] = attempt.result.to_output()
    if attempt.result is None:
        raise RuntimeError(f'{block}: the load attempt ended without its result')  # a step's bug, not the data's
    log.info('%s', _summary(block, attempt.result, target, time.perf_counter() - started))


def _summary(block: str, result: MonthManifest, target: str | None, seconds: float) -> str:
    """What a block did, in one line: 'export_taxi_to_postgres: green 2020-10, 52,351 rows ->
    ny_taxi.green_taxi_data in 1.6 s'; the loader says MB, rows read and kept aside instead."""
    if result.rows_loaded is not None:
        did = f'{result.rows_loaded:,} rows -> {target}'
    else:
        did = (
            f'{(result.bytes or 0) / 1e6:.1f} MB, {result.rows or 0:,} rows read, '
            f'{result.rows_rejected or 0:,} malformed kept aside -> {result.raw_path}'
        )
    return f'{block}: {result.month.label}, {did} in {seconds:.1f} s'


@timed
def extract_month(variables: Mapping[str, Any]) -> Manifest:
    """Download the month's file (the course's gzip CSV or the TLC's parquet) and read it with the
    service's schema into raw.parquet; or, when the file has not changed since the pipeline's last
    completed load of it, skip it (utils/steps/unchanged.py).

    Malformed CSV rows go to rejects.csv beside it, unless more than the pipeline variable
    max_reject_ratio (default 0.01) of the rows are malformed: then it fails. A CSV is read in
    the pipeline variable encoding (default utf-8); a line that is not text in it fails the run.
    """
    month = month_of_run(variables)
    skipped = unchanged_month(month, month.url(source_base_url(month.source)), variables, 'load_taxi_csv')
    if skipped:
        return skipped.to_output()
    folder = run_dir(month.file_stem, variables)
    return fetch_month(month, folder, variables, 'load_taxi_csv').but(work_dir=str(folder)).to_output()


def loader_output(manifest: Manifest, variables: Mapping[str, Any]) -> Manifest | list:
    """What load_taxi_csv returns: the manifest; in Mage's editor (which runs a block with
    env='dev') also the month's first 10 rows, a second output that the editor shows as a table
    of its own. Mage hands a block with two outputs to the next one as a list: the next block
    takes the manifest from either (manifest_of)."""
    if variables.get('env') == 'dev' and 'raw_path' in manifest:
        return [manifest, first_rows(Path(manifest['raw_path']))]
    return manifest


def manifest_of(output: Manifest | list) -> Manifest:
    """The manifest dict of a loader's output (an inline test's input); steps use MonthManifest.of."""
    return output[0] if isinstance(output, list) else output


def fetch_month(
    month: TaxiMonth, folder: Path, variables: Mapping[str, Any], block: str, schema: TaxiSchema | None = None
) -> MonthManifest:
    """One month from its release into folder/raw.parquet (rejects.csv beside it), as one audited
    load attempt of `block`: the course's gzip CSV parsed with the schema, or the TLC's parquet
    read by column name and cast to the service's types (utils/domain/schema_drift.py)."""
    max_reject_ratio = _ratio(variables.get('max_reject_ratio', DEFAULT_MAX_REJECT_RATIO))
    encoding = check_encoding(variables.get('encoding') or UTF8)
    if refused := month.refused():  # before its download (docs/sources.md: the months of each release)
        raise MonthRefusedError(refused)
    url = month.url(source_base_url(month.source))
    schema = schema or schema_for(month.service)
    raw = folder / 'raw.parquet'
    with load_attempt(variables, block, MonthManifest(month, url=url)) as attempt, writing_in(folder):
        identity: dict[str, Any] = {}
        src = folder / url.rsplit('/', 1)[-1]
        size = download(
            url,
            src,
            parquet=month.is_parquet,
            not_found_hint=month.published_range(),
            identity=identity,
            **download_settings(),
        )
        try:
            parsed: dict[str, Any]
            if month.is_parquet:
                parsed = {'rows': tlc_parquet_to_raw(src, raw, schema, url), 'rows_rejected': 0, 'rejects_path': None}
            else:
                parsed = csv_to_parquet_keeping_rejects(src, raw, schema, url, max_reject_ratio, encoding)
        finally:
            src.unlink(missing_ok=True)
        fetched = MonthManifest(month, url=url, bytes=size, raw_path=str(raw), source_version=identity.get('version'))
        attempt.result = fetched.but(**parsed)
    return attempt.result


def _ratio(value: Any) -> float:
    try:
        ratio = float(value)
    except (TypeError, ValueError):
        ratio = -1.0
    if not 0 <= ratio <= 1:
        raise ValueError(f'max_reject_ratio={value!r} must be a number from 0 to 1')
    return ratio


@timed
def clean_month(manifest: Manifest | list) -> Manifest:
    """Apply the cleaning rules to raw.parquet, writing clean.parquet (snake_case columns).

    The pipeline variable `cleaning` (read with the month, TaxiMonth.from_vars): `service`
    (default) applies the service's rules (utils/domain/taxi_schema.py); `raw` keeps every row of the
    file, which then loads into the service's _raw tables (the later modules count them)."""
    m = MonthManifest.of(manifest)
    cleaning = 'raw' if m.month.raw else 'service'
    if m.unchanged:
        return m.but(cleaning=cleaning).to_output()
    raw = m.path('raw_path')
    with writing_in(raw.parent):
        counts = clean_file(
            raw, raw.with_name('clean.parquet'), schema_for(m.month.service), rules=() if m.month.raw else None
        )
    return m.but(clean_path=str(raw.with_name('clean.parquet')), cleaning=cleaning, **counts).to_output()


@timed
def export_month_to_postgres(manifest: Manifest, run: Mapping[str, Any] | None = None) -> Manifest:
    """Replace the month in <POSTGRES_SCHEMA>.<service>_taxi_data with clean.parquet."""
    m = MonthManifest.of(manifest)
    month = m.month
    schema_name = postgres_schema()
    table = f'{schema_name}.{table_name(month.table_stem)}'
    if m.unchanged:
        with postgres_connection() as conn:
            rows_there = count_month(conn, schema_name, month.table_stem, month.first_day)
        return check_target(m, table, rows_there).but(table=table).to_output()
    with (
        load_attempt(run, 'export_taxi_to_postgres', m, table) as attempt,
        month_locked(f'postgres:{table}', month.first_day),
        postgres_connection() as conn,
    ):
        rows = replace_month(
            conn,
            schema_name=schema_name,
            taxi_schema=schema_for(month.service),
            month=month.first_day,
            batches=iter_parquet_batches(m.path('clean_path')),
            table=table_name(month.table_stem),
        )
        if month.raw:
            course_views.postgres_view(conn, schema_name, schema_for(month.service))
        attempt.result = m.but(table=table, rows_loaded=rows)
    return attempt.result.to_output()


@timed
def export_month_to_gcs(manifest: Manifest, run: Mapping[str, Any] | None = None) -> Manifest:
    """Upload clean.parquet as the month's object nyc_taxi/<service>/<file>.parquet."""
    m = MonthManifest.of(manifest)
    target = google_target()
    name = gcs_io.monthly_object(m.month)
    uri = f'gs://{target.bucket}/{name}'
    if m.unchanged:
        bucket = gcs_io.open_bucket(storage_client(), target.bucket)
        rows = gcs_io.parquet_rows_in_gcs(bucket, name) if bucket.blob(name).exists() else 0
        return check_target(m, uri, rows).but(gcs_uri=uri).to_output()
    with load_attempt(run, 'export_taxi_to_gcs', m, uri) as attempt:
        bucket = gcs_io.open_bucket(storage_client(), target.bucket)
        with month_locked(f'gs://{bucket.name}/{name}', m.month.first_day):
            uri = gcs_io.upload_file(bucket, m.path('clean_path'), name)
        attempt.result = m.but(gcs_uri=uri, rows_loaded=m.rows_out)
    log.info('uploaded %s rows to %s', f'{m.rows_out:,}', uri)
    return attempt.result.to_output()


@timed
def export_month_to_gcs_partitioned(manifest: Manifest, run: Mapping[str, Any] | None = None) -> Manifest:
    """Replace the month's files in nyc_taxi/<service>_partitioned/pickup_date=.../."""
    m = MonthManifest.of(manifest)
    month = m.month
    target = google_target()
    where = f'gs://{target.bucket}/{gcs_io.partitioned_prefix(month.table_stem)}'
    if m.unchanged:
        bucket = gcs_io.open_bucket(storage_client(), target.bucket)
        objects = gcs_io.month_partition_objects(bucket, month)
        by_date = gcs_io.rows_by_pickup_date({name: gcs_io.parquet_rows_in_gcs(bucket, name) for name in objects})
        checked = check_target(m, where, sum(by_date.values()))
        return checked.but(partition_objects=objects, rows_by_pickup_date=by_date).to_output()
    with load_attempt(run, 'export_taxi_to_gcs_partitioned', m, where) as attempt:
        bucket = gcs_io.open_bucket(storage_client(), target.bucket)
        with month_locked(where, month.first_day):
            uploaded = gcs_io.upload_month_partitions(bucket, m.path('clean_path'), schema_for(month.service), month)
        by_date = gcs_io.rows_by_pickup_date(uploaded)
        attempt.result = m.but(
            partition_objects=sorted(uploaded), rows_by_pickup_date=by_date, rows_loaded=sum(by_date.values())
        )
    return attempt.result.to_output()


@timed
def locate_month_in_gcs(variables: Mapping[str, Any]) -> Manifest:
    """The month's parquet object in GCS (written by api_to_gcs) and its row count."""
    month = month_of_run(variables)
    bucket = gcs_io.open_bucket(storage_client(), google_target().bucket)
    name = gcs_io.monthly_object(month)
    if not bucket.blob(name).exists():
        raise CloudError(f'gs://{bucket.name}/{name} does not exist: run api_to_gcs for {month.file_stem} first')
    rows = gcs_io.parquet_rows_in_gcs(bucket, name)
    log.info('found gs://%s/%s with %s rows', bucket.name, name, f'{rows:,}')
    return MonthManifest(month, gcs_uri=f'gs://{bucket.name}/{name}', rows=rows).to_output()


@timed
def export_month_to_bigquery(manifest: Manifest, run: Mapping[str, Any] | None = None) -> Manifest:
    """Replace the month in <dataset>.<service>_tripdata from its GCS object."""
    m = MonthManifest.of(manifest)
    month, uri = m.month, m.required('gcs_uri')
    target = google_target()
    table, _ = bigquery_load.table_ids(target.project, target.dataset, month.table_stem, month.first_day)
    with (
        load_attempt(run, 'export_taxi_to_bigquery', m.but(url=uri), table) as attempt,
        month_locked(f'bigquery:{table}', month.first_day),
    ):
        rows = bigquery_load.load_month(
            bigquery_client(),
            project=target.project,
            dataset=target.dataset,
            location=target.location,
            taxi_schema=schema_for(month.service),
            month=month.first_day,
            uri=uri,
            table_stem=month.table_stem,
        )
        if month.raw:
            course_views.bigquery_view(bigquery_client(), target, schema_for(month.service))
        attempt.result = m.but(bigquery_table=table, rows_loaded=rows)
    return attempt.result.to_output()
