"""The steps of the taxi pipelines, one function per Mage block.

Blocks hand each other a small manifest (a JSON-able dict: the month, file paths, counts)
while the rows themselves stream file -> file -> database, so no block holds a month in RAM.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

from utils.cleaning import clean_file
from utils.environment import postgres_connection, postgres_schema, source_base_url, work_dir
from utils.postgres_load import replace_month, table_name
from utils.taxi_files import csv_to_parquet, iter_parquet_batches
from utils.taxi_schema import schema_for
from utils.taxi_source import TaxiMonth, download

log = logging.getLogger(__name__)

Manifest = dict[str, Any]


def month_dir(month: TaxiMonth, pipeline_uuid: str, root: Path | None = None) -> Path:
    return (root or work_dir()) / pipeline_uuid / month.file_stem


def extract_month(
    variables: Mapping[str, Any], *, base_url: str | None = None, root: Path | None = None
) -> Manifest:
    """Download the month's gzip CSV and parse it with the schema into raw.parquet."""
    month = TaxiMonth.from_vars(variables)
    url = month.url(base_url or source_base_url())
    folder = month_dir(month, str(variables.get('pipeline_uuid') or 'adhoc'), root)
    gz = folder / f'{month.file_stem}.csv.gz'
    download(url, gz)
    try:
        rows = csv_to_parquet(gz, folder / 'raw.parquet', schema_for(month.service), label=url)
    finally:
        gz.unlink(missing_ok=True)
    return {**month.to_dict(), 'url': url, 'raw_path': str(folder / 'raw.parquet'), 'rows': rows}


def clean_month(manifest: Manifest) -> Manifest:
    """Apply the cleaning rules to raw.parquet, writing clean.parquet (snake_case columns)."""
    raw = Path(manifest['raw_path'])
    counts = clean_file(raw, raw.with_name('clean.parquet'), schema_for(manifest['service']))
    return {**manifest, 'clean_path': str(raw.with_name('clean.parquet')), **counts}


def export_month_to_postgres(manifest: Manifest) -> Manifest:
    """Replace the month in <POSTGRES_SCHEMA>.<service>_taxi_data with clean.parquet."""
    month = TaxiMonth.from_vars(manifest)
    schema_name = postgres_schema()
    with postgres_connection() as conn:
        rows = replace_month(
            conn,
            schema_name=schema_name,
            taxi_schema=schema_for(month.service),
            month=month.first_day,
            batches=iter_parquet_batches(Path(manifest['clean_path'])),
        )
    return {**manifest, 'table': f'{schema_name}.{table_name(month.service)}', 'rows_loaded': rows}
