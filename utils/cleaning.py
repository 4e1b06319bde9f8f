"""Cleaning rules: which trips are dropped, and why, counted per reason.

The course keeps `data[data['passenger_count'] > 0]`: a trip with 0 passengers and a trip with
no passenger count at all both go. Each reason is one named rule so the logs can say how many
rows each one removed; a row that matches several rules is counted under the first.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from utils.taxi_files import iter_parquet_batches, write_parquet
from utils.taxi_schema import TaxiSchema

log = logging.getLogger(__name__)

Rule = Callable[[pa.RecordBatch], pa.Array]

# reason -> boolean mask of the rows to drop, on source column names
DROP_RULES: dict[str, Rule] = {
    'passenger_count_missing': lambda b: pc.is_null(b['passenger_count']),
    'passenger_count_not_positive': lambda b: pc.less_equal(b['passenger_count'], 0),
}


def clean_batch(batch: pa.RecordBatch, schema: TaxiSchema) -> tuple[pa.RecordBatch, dict[str, int]]:
    """Drop the rows that match a rule and rename the columns to snake_case."""
    dropped: dict[str, int] = {}
    drop = pa.array(np.zeros(batch.num_rows, dtype=bool))
    for reason, rule in DROP_RULES.items():
        hits = pc.and_not(pc.fill_null(rule(batch), False), drop)
        dropped[reason] = pc.sum(hits).as_py() or 0
        drop = pc.or_(drop, hits)
    kept = batch.filter(pc.invert(drop))
    return pa.RecordBatch.from_arrays(kept.columns, schema=schema.arrow_schema(clean=True)), dropped


def clean_file(src: Path, dest: Path, schema: TaxiSchema) -> dict[str, int | dict[str, int]]:
    """Stream a raw parquet file through clean_batch into dest; return the counts."""
    rows_in = 0
    dropped = dict.fromkeys(DROP_RULES, 0)

    def kept_batches() -> Iterator[pa.RecordBatch]:
        nonlocal rows_in
        for batch in iter_parquet_batches(src):
            kept, counts = clean_batch(batch, schema)
            rows_in += batch.num_rows
            for reason, n in counts.items():
                dropped[reason] += n
            yield kept

    rows_out = write_parquet(dest, schema.arrow_schema(clean=True), kept_batches())
    log.info(
        'cleaned %s rows: kept %s, dropped %s',
        f'{rows_in:,}',
        f'{rows_out:,}',
        ', '.join(f'{n:,} {reason}' for reason, n in dropped.items()),
    )
    return {'rows_in': rows_in, 'rows_out': rows_out, 'dropped': dropped}
