"""Synthetic NYC taxi months in the exact DataTalksClub CSV shape, for benchmarks.

Same header, column order and value formats as yellow_tripdata_2021-01.csv.gz, with the real
null pattern: the last ~7 % of rows have empty VendorID, passenger_count, RatecodeID,
store_and_fwd_flag and payment_type (as the release files do), ~2 % of rows carry
passenger_count 0 and ~1 % trip_distance 0. Deterministic for a given seed.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from utils.domain.taxi_schema import course_layout

FULL_MONTH_ROWS = 1_369_765  # yellow 2021-01
YELLOW_2019_01_ROWS = 7_667_792  # yellow 2019-01, the size of a pre-pandemic month
NULL_TAIL = 0.07


def _chunk(rng: np.random.Generator, start: int, n: int, total: int, year: int, month: int) -> pa.Table:
    month_start = np.datetime64(f'{year:04d}-{month:02d}-01T00:00:00', 's')
    month_seconds = 28 * 24 * 3600
    pickup = month_start + np.sort(rng.integers(0, month_seconds, n)).astype('timedelta64[s]')
    dropoff = pickup + rng.exponential(720, n).astype('int64').astype('timedelta64[s]')
    tail = np.arange(start, start + n) >= int(total * (1 - NULL_TAIL))
    passengers = rng.choice([0, 1, 1, 1, 1, 1, 2, 2, 3, 5], n, p=[0.02] + [0.98 / 9] * 9)
    distance = np.round(rng.exponential(3.0, n), 2)
    distance[rng.random(n) < 0.01] = 0.0
    fare = np.round(2.5 + 2.5 * distance, 2)
    fare[rng.random(n) < 0.001] *= -1
    extra = rng.choice([0.0, 0.5, 1.0, 2.5], n)
    tip = np.round(rng.exponential(1.5, n), 2)
    tolls = np.where(rng.random(n) < 0.03, 6.12, 0.0)
    congestion = np.where(rng.random(n) < 0.8, 2.5, 0.0)
    total_amount = np.round(fare + extra + 0.5 + tip + tolls + 0.3 + congestion, 2)

    def maybe_null(values, dtype):
        return pa.array(values, dtype, mask=tail)

    return pa.table(
        {
            'VendorID': maybe_null(rng.choice([1, 2], n), pa.int64()),
            'tpep_pickup_datetime': pa.array(pickup, pa.timestamp('s')),
            'tpep_dropoff_datetime': pa.array(dropoff, pa.timestamp('s')),
            'passenger_count': maybe_null(passengers, pa.int64()),
            'trip_distance': pa.array(distance),
            'RatecodeID': maybe_null(rng.choice([1, 1, 1, 1, 2, 5, 99], n), pa.int64()),
            'store_and_fwd_flag': maybe_null(np.where(rng.random(n) < 0.01, 'Y', 'N'), pa.string()),
            'PULocationID': pa.array(rng.integers(1, 266, n)),
            'DOLocationID': pa.array(rng.integers(1, 266, n)),
            'payment_type': maybe_null(rng.choice([1, 1, 2, 3, 4], n), pa.int64()),
            'fare_amount': pa.array(fare),
            'extra': pa.array(extra),
            'mta_tax': pa.array(np.full(n, 0.5)),
            'tip_amount': pa.array(tip),
            'tolls_amount': pa.array(tolls),
            'improvement_surcharge': pa.array(np.full(n, 0.3)),
            'total_amount': pa.array(total_amount),
            'congestion_surcharge': pa.array(congestion),
        }
    )


def _as_green(table: pa.Table, rng: np.random.Generator) -> pa.Table:
    """The same trips in the green files' shape: lpep_ times, ehail_fee (always empty in the
    release), trip_type (1 street-hail, 2 dispatch), the green column order."""
    n = table.num_rows
    table = table.rename_columns([c.replace('tpep_', 'lpep_') for c in table.column_names])
    table = table.append_column('ehail_fee', pa.nulls(n, pa.float64()))
    table = table.append_column(
        'trip_type',
        pa.array(
            rng.choice([1, 1, 1, 2], n), pa.int64(), mask=pc.is_null(table['VendorID']).to_numpy(zero_copy_only=False)
        ),
    )
    return table.select(course_layout('green').columns)


def generate_month(
    path: Path,
    rows: int = FULL_MONTH_ROWS,
    year: int = 2021,
    month: int = 1,
    seed: int = 2021,
    chunk_rows: int = 250_000,
    service: str = 'yellow',
) -> Path:
    """Write a gzip CSV of `rows` synthetic trips of `service` to `path` (atomically)."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + '.part')
    with gzip.open(part, 'wb', compresslevel=6) as out:
        out.write((','.join(course_layout(service).columns) + '\n').encode())
        for start in range(0, rows, chunk_rows):
            table = _chunk(rng, start, min(chunk_rows, rows - start), rows, year, month)
            if service == 'green':
                table = _as_green(table, rng)
            pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False, quoting_style='none'))
    part.replace(path)
    return path


def clean_synthetic_month(folder: Path, month: int, rows: int, year: int = 2019) -> Path:
    """A SYNTHETIC yellow month as the pipelines' clean step leaves it: generated (seed = month),
    read with the service's schema and cleaned by its rules, into folder/clean-<MM>.parquet (the
    benches that load months into a warehouse start from it)."""
    from utils.domain.cleaning import clean_file
    from utils.domain.taxi_files import csv_to_parquet
    from utils.domain.taxi_schema import schema_for

    yellow = schema_for('yellow')
    csv = generate_month(
        folder / f'yellow_tripdata_{year}-{month:02d}.csv.gz', rows=rows, year=year, month=month, seed=month
    )
    csv_to_parquet(csv, folder / 'raw.parquet', yellow, csv.name)
    clean = folder / f'clean-{month:02d}.parquet'
    clean_file(folder / 'raw.parquet', clean, yellow)
    return clean
