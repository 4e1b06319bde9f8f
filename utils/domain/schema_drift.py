"""The edge where a month's file meets its service's entry: every layout the TLC used, one set of
types after it.

The TLC's files change shape over the years: green 2021-01 and 2023-01 store the codes as
double and ehail_fee as Arrow's null type, 2023-02 stores them as int64 with int32 location
ids and large_string flags, 2025-01 adds cbd_congestion_fee; the FHV files spell
dropOff_datetime and PUlocationID in some years and dropoff_datetime and PULocationID in others.
Here a file's columns are matched to the service's by name, case-insensitively
(match_columns), and each batch is cast to the service's kinds (conform), so what leaves this
module is the same for every month: the loads, the GCS dataset and the tables never cast again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from utils.domain.taxi_schema import FLAG_NO, FLAG_YES, TaxiSchema


class BadFileError(ValueError):
    """The file does not match the schema; the message names the file, column or row."""


def match_columns(names: list[str], schema: TaxiSchema, label: str) -> dict[str, str]:
    """{the file's column name: the service's spelling of it}, matched case-insensitively.

    Raise BadFileError naming every required column the file lacks, every column the service
    does not know and every column given twice; an optional column may be missing (NULL then).
    """
    matched: dict[str, str] = {}
    unknown, twice = [], []
    for name in names:
        column = schema.source_column(name)
        if column is None:
            unknown.append(name)
        elif column in matched.values():
            twice.append(name)
        else:
            matched[name] = column
    missing = [c for c in schema.required if c not in matched.values()]
    if missing or unknown or twice:
        parts = []
        if missing:
            parts.append(f'missing column(s) {", ".join(missing)}')
        if unknown:
            parts.append(f'unexpected column(s) {", ".join(unknown)}')
        if twice:
            parts.append(f'column(s) given twice (names differ only by case) {", ".join(twice)}')
        raise BadFileError(
            f'{label}: its columns do not match the {schema.service} taxi schema '
            f'(utils/domain/taxi_schema.py): {"; ".join(parts)}'
        )
    return matched


def conform(batch: pa.RecordBatch, schema: TaxiSchema, matched: dict[str, str], label: str) -> pa.RecordBatch:
    """The batch in the service's columns and types: each column cast to its kind (a double code
    to an integer if every value is whole, null-typed to the column's type, int32 to int64,
    large_string to string), a missing optional column as NULLs. A value that does not fit its
    kind raises BadFileError naming the file and the column."""
    by_column = {column: name for name, column in matched.items()}
    target = schema.arrow_schema()
    arrays = []
    for field in target:
        name = by_column.get(field.name)
        if name is None:
            arrays.append(pa.nulls(batch.num_rows, field.type))
            continue
        column = batch.column(name)
        if schema.kinds[field.name] == 'flag':
            arrays.append(flag_values(column, name, label))
            continue
        if column.type == field.type:
            arrays.append(column)
            continue
        try:
            arrays.append(pc.cast(column, field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as e:
            raise BadFileError(
                f'{label}: column {name} ({column.type}) cannot be read as {schema.kinds[field.name]}: {e}'
            ) from None
    return pa.RecordBatch.from_arrays(arrays, schema=target)


def flag_values(column: pa.Array, name: str, label: str) -> pa.Array:
    """A flag column (text, a double or an integer, as a year's file has it) as 1 for yes and
    NULL for no (utils/domain/taxi_schema.py: FLAG_YES, FLAG_NO); BadFileError naming the
    column and its first value that is neither."""
    try:
        text = pc.utf8_upper(pc.utf8_trim_whitespace(pc.cast(column, pa.string())))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise BadFileError(f'{label}: column {name} ({column.type}) cannot be read as a flag: {e}') from None
    yes = pc.is_in(text, value_set=pa.array(sorted(FLAG_YES)))
    no = pc.or_kleene(pc.is_null(text), pc.is_in(text, value_set=pa.array(sorted(FLAG_NO))))
    neither = pc.invert(pc.or_kleene(yes, no))
    if pc.any(neither).as_py():
        first = column[pc.index(neither, True).as_py()].as_py()
        raise BadFileError(
            f'{label}: column {name}: {first!r} is not a valid flag (yes: {", ".join(sorted(FLAG_YES))}; '
            f'no: empty, {", ".join(sorted(FLAG_NO - {""}))})'
        )
    return pc.if_else(yes, pa.scalar(1, pa.int64()), pa.scalar(None, pa.int64()))


def iter_tlc_parquet_batches(path: Path, schema: TaxiSchema, label: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The batches of one of the TLC's parquet files in the service's columns and types, whatever
    layout the file's year has (read by column name, case-insensitively, then cast: conform)."""
    try:
        f = pq.ParquetFile(path, pre_buffer=False)
    except (pa.ArrowInvalid, OSError) as e:
        raise BadFileError(f'{label}: not a readable parquet file: {e}') from None
    with f:
        matched = match_columns(f.schema_arrow.names, schema, label)
        try:
            for batch in f.iter_batches(batch_size=batch_rows, columns=list(matched)):
                yield conform(batch, schema, matched, label)
        except (pa.ArrowInvalid, OSError) as e:
            raise BadFileError(f'{label}: the parquet file is damaged: {e}') from None
