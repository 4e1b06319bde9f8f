"""Cleaning rules: which trips are dropped, and why, counted per reason.

Every rule is named, and a pipeline says which rules it applies (a tuple of names, below), so
the logs say how many rows each rule removed and no pipeline has a copy of the cleaning code. A
row that matches several of a pipeline's rules is counted under the first.

    COURSE_RULES    data[data['passenger_count'] > 0]              (api_to_*, yellow and green)
    FHV rules       dispatching_base_num is not null (module 4's stg_fhv_tripdata)
                                                                   (api_to_*, fhv and fhvhv)
    HOMEWORK_RULES  data[(data['passenger_count'] > 0) & (data['trip_distance'] > 0)]
                                                                   (green_taxi_etl)

The month pipelines take each service's rules from its entry (utils/domain/taxi_schema.py); the
pipeline variable `cleaning=raw` loads every row of the file (no rule), for the later modules
that count the source's rows.

pandas' `> 0` is False for a missing value, so a missing count or distance is dropped too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from utils.domain.taxi_files import iter_parquet_batches, write_parquet
from utils.domain.taxi_schema import COURSE_RULES, TaxiSchema, snake_case

log = logging.getLogger(__name__)

Rule = Callable[[pa.RecordBatch], pa.Array]

# reason -> boolean mask of the rows to drop, on source column names
RULES: dict[str, Rule] = {
    'passenger_count_missing': lambda b: pc.is_null(b['passenger_count']),
    'passenger_count_not_positive': lambda b: pc.less_equal(b['passenger_count'], 0),
    'trip_distance_missing': lambda b: pc.is_null(b['trip_distance'], nan_is_null=True),
    'trip_distance_not_positive': lambda b: pc.less_equal(b['trip_distance'], 0),
    'dispatching_base_num_missing': lambda b: pc.is_null(b['dispatching_base_num']),
}
HOMEWORK_RULES: tuple[str, ...] = (*COURSE_RULES, 'trip_distance_missing', 'trip_distance_not_positive')


def check_rules(rules: Sequence[str]) -> tuple[str, ...]:
    """The rules by name, each known (no rule at all: a raw load, every row kept)."""
    unknown = [r for r in rules if r not in RULES]
    if unknown:
        raise ValueError(
            f'unknown cleaning rule(s) {", ".join(unknown) or "(none given)"}: the rules are {", ".join(RULES)}'
        )
    return tuple(rules)


def clean_schema(schema: TaxiSchema, with_pickup_date: bool = False) -> pa.Schema:
    """The cleaned columns (snake_case), plus the pickup's date when asked for."""
    clean = schema.arrow_schema(clean=True)
    return clean.append(pa.field(schema.pickup_date_column, pa.date32())) if with_pickup_date else clean


def clean_batch(
    batch: pa.RecordBatch, schema: TaxiSchema, rules: Sequence[str] | None = None, with_pickup_date: bool = False
) -> tuple[pa.RecordBatch, dict[str, int]]:
    """Drop the rows that match one of `rules`, rename the columns to snake_case and, when
    asked, add the pickup's date (e.g. lpep_pickup_date)."""
    dropped: dict[str, int] = {}
    rules = schema.rules if rules is None else rules
    drop = pa.array(np.zeros(batch.num_rows, dtype=bool))
    for reason in rules:
        hits = pc.and_not(pc.fill_null(RULES[reason](batch), False), drop)
        dropped[reason] = pc.sum(hits).as_py() or 0
        drop = pc.or_(drop, hits)
    kept = batch.filter(pc.invert(drop))
    columns = [kept.column(name) for name in schema.columns]
    if with_pickup_date:
        columns = [*columns, pc.cast(kept[schema.pickup_column], pa.date32())]
    return pa.RecordBatch.from_arrays(columns, schema=clean_schema(schema, with_pickup_date)), dropped


# The lookup's 'Unknown' borough (264 NV, 265 NA): a trip there is located nowhere, as the marts
# count it (their facts leave it out; dbt/taxi_marts/models/core/fact_trips.sql).
UNKNOWN_ZONES = (264, 265)


def zone_columns(schema: TaxiSchema) -> tuple[str, ...]:
    """The cleaned names of the service's pickup and dropoff zone columns (every service has both)."""
    return tuple(snake_case(c) for c in schema.columns if c.lower() in ('pulocationid', 'dolocationid'))


def rows_without_zones(batch: pa.RecordBatch, columns: Sequence[str]) -> int:
    """The rows whose pickup or dropoff zone is missing or in the 'Unknown' borough."""
    unknown = pa.array(UNKNOWN_ZONES, pa.int64())
    nowhere = pa.array(np.zeros(batch.num_rows, dtype=bool))
    for name in columns:
        column = batch.column(name)
        nowhere = pc.or_(nowhere, pc.fill_null(pc.or_kleene(pc.is_null(column), pc.is_in(column, unknown)), True))
    return pc.sum(nowhere).as_py() or 0


def clean_file(
    src: Path | Iterable[Path],
    dest: Path,
    schema: TaxiSchema,
    rules: Sequence[str] | None = None,
    with_pickup_date: bool = False,
) -> dict[str, int | dict[str, int]]:
    """Stream raw parquet file(s) through clean_batch into one file, dest; return the counts (rows
    in, kept, dropped per rule, and of the kept rows those without a known zone).
    `rules`: the service's own (None), or those named (an empty tuple keeps every row)."""
    rules = check_rules(schema.rules if rules is None else rules)
    sources = [src] if isinstance(src, Path) else list(src)
    rows_in = without_zones = 0
    dropped = dict.fromkeys(rules, 0)
    zones = zone_columns(schema)

    def kept_batches() -> Iterator[pa.RecordBatch]:
        nonlocal rows_in, without_zones
        for path in sources:
            for batch in iter_parquet_batches(path):
                kept, counts = clean_batch(batch, schema, rules, with_pickup_date)
                rows_in += batch.num_rows
                without_zones += rows_without_zones(kept, zones)
                for reason, n in counts.items():
                    dropped[reason] += n
                yield kept

    rows_out = write_parquet(dest, clean_schema(schema, with_pickup_date), kept_batches())
    log.info(
        'cleaned %s rows: kept %s, dropped %s',
        f'{rows_in:,}',
        f'{rows_out:,}',
        ', '.join(f'{n:,} {reason}' for reason, n in dropped.items()) or 'none (no cleaning rule)',
    )
    return {'rows_in': rows_in, 'rows_out': rows_out, 'dropped': dropped, 'rows_without_zones': without_zones}


def renamed_columns(schema: TaxiSchema) -> dict[str, str]:
    """The source columns whose name the one naming rule changes (VendorID -> vendor_id, ...)."""
    return {c: snake_case(c) for c in schema.columns if snake_case(c) != c}
