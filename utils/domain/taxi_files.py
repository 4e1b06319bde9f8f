"""Streaming file → file steps: a gzip CSV parsed with the schema into parquet, batch by batch.

Nothing here holds a whole month in memory: pyarrow's streaming CSV reader hands over
blocks of rows, each is typed, checked and appended to a parquet file that is renamed into
place only when complete.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import logging
import os
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from utils.domain.schema_drift import BadFileError, conform, iter_tlc_parquet_batches, match_columns
from utils.domain.taxi_schema import FLAG_NO, FLAG_YES, TaxiSchema

if TYPE_CHECKING:  # only for the annotation: the editor's table is the one use of pandas here
    import pandas as pd

log = logging.getLogger(__name__)

# Small blocks and batches keep a month's memory flat (pyarrow reads ahead several blocks);
# parquet row groups are regrouped to BATCH_ROWS rows. Measured with `make bench`.
CSV_BLOCK_BYTES = 1 << 20
BATCH_ROWS = 32_768
ROW_GROUP_ROWS = 32_768
TIMESTAMP_FORMAT = '%Y-%m-%d %H:%M:%S'


UTF8 = 'utf-8'


class EncodingError(BadFileError):
    """A line of the file is not text in the encoding it is read with (the pipeline variable
    `encoding`, default utf-8): the whole file is refused, naming the line and the variable."""


def check_encoding(encoding: str) -> str:
    """The encoding's canonical name (latin-1 -> iso8859-1), or a ValueError naming the variable."""
    try:
        return codecs.lookup(str(encoding).strip()).name
    except LookupError:
        raise ValueError(
            f'pipeline variable encoding={encoding!r} is not an encoding Python knows (e.g. utf-8, latin-1, cp1252)'
        ) from None


def _decoded(raw: bytes, line_number: int, encoding: str, label: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        bad = raw[e.start : e.end]
        raise EncodingError(
            f'{label}: line {line_number} is not {encoding} text: byte {bad.hex(" ")} at column {e.start + 1} '
            f'({e.reason}); a file in another encoding loads with the pipeline variable encoding set to it '
            f'(e.g. "encoding": "latin-1")'
        ) from None


def read_header(path: Path, label: str, encoding: str = UTF8) -> list[str]:
    try:
        with gzip.open(path, 'rb') as f:
            first = f.readline()
    except (OSError, EOFError, zlib.error) as e:
        raise BadFileError(f'{label}: cannot read the gzip stream: {e}') from None
    header = next(csv.reader([_decoded(first, 1, encoding, label)]), None)
    if not header:
        raise BadFileError(f'{label}: the file is empty, it has no header line')
    return header


def _convert_options(schema: TaxiSchema, matched: dict[str, str]) -> pacsv.ConvertOptions:
    # Integers are read as float64 and cast afterwards: some release files write "1.0"; a flag
    # is read as its text (1, N, empty) and read as 1 or NULL by conform.
    arrow = schema.arrow_schema()
    as_read = {'int': pa.float64(), 'flag': pa.string()}
    read_types = {name: as_read.get(schema.kinds[column], arrow.field(column).type) for name, column in matched.items()}
    return pacsv.ConvertOptions(
        column_types=read_types,
        include_columns=list(matched),
        timestamp_parsers=[TIMESTAMP_FORMAT],
        strings_can_be_null=True,
    )


def tlc_parquet_to_raw(src: Path, dest: Path, schema: TaxiSchema, label: str) -> int:
    """One of the TLC's parquet months as a raw.parquet in the service's types; return the rows."""
    rows = write_parquet(dest, schema.arrow_schema(), iter_tlc_parquet_batches(src, schema, label, BATCH_ROWS))
    log.info('read %s rows from %s', f'{rows:,}', label)
    return rows


class MalformedRowsError(BadFileError):
    """Some rows do not fit the schema (a wrong field count or a value of the wrong type)."""


def iter_csv_batches(path: Path, schema: TaxiSchema, label: str, encoding: str = UTF8) -> Iterator[pa.RecordBatch]:
    """Typed record batches of a gzip CSV file in `encoding`, header checked first. Text that is
    not valid in the encoding fails the file (EncodingError), naming its first such line."""
    encoding = check_encoding(encoding)
    matched = match_columns(read_header(path, label, encoding), schema, label)
    # utf-8 is read as it is (Arrow checks it); another encoding through Python's codec, slower
    transcoded = {} if encoding == UTF8 else {'encoding': encoding}
    try:
        reader = pacsv.open_csv(
            pa.input_stream(str(path), compression='gzip'),
            read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES, **transcoded),
            convert_options=_convert_options(schema, matched),
        )
        for batch in reader:
            yield conform(batch, schema, matched, label)
    except (pa.ArrowInvalid, OSError, BadFileError, UnicodeDecodeError) as e:
        raise _failure(path, schema, label, e, encoding) from None


def _failure(path: Path, schema: TaxiSchema, label: str, error: Exception, encoding: str = UTF8) -> BadFileError:
    """Name the first bad line of the file, found by a slow exact re-read, if there is one."""
    try:
        bad = next(bad_rows(path, schema, encoding, label), None)
    except EncodingError as e:
        return e
    except (OSError, EOFError, zlib.error) as e:
        return BadFileError(f'{label}: the gzip stream is damaged or truncated: {e}')
    if bad:
        return MalformedRowsError(f'{label}: {bad[1]}')
    return error if isinstance(error, BadFileError) else BadFileError(f'{label}: {error}')


def _parses(kind: str, value: str) -> bool:
    if value == '' or kind == 'str':
        return True
    if kind == 'flag':
        return value.strip().upper() in FLAG_YES | FLAG_NO
    try:
        if kind == 'int':
            return float(value).is_integer()
        if kind == 'float':
            float(value)
        else:
            datetime.strptime(value, TIMESTAMP_FORMAT)
        return True
    except ValueError:
        return False


def _problem(line_number: int, fields: list[str], header: list[str], kinds: list[str]) -> str | None:
    if len(fields) != len(header):
        return f'line {line_number} has {len(fields)} fields, the header has {len(header)}'
    for name, kind, value in zip(header, kinds, fields, strict=False):
        if not _parses(kind, value):
            return f'line {line_number}, column {name}: {value!r} is not a valid {kind}'
    return None


def _lines(path: Path, encoding: str = UTF8, label: str | None = None) -> Iterator[tuple[int, str, list[str]]]:
    """(line number, text, fields) of every data line (the release files quote no newline)."""
    with gzip.open(path, 'rb') as f:
        next(f)
        for line_number, raw in enumerate(f, start=2):
            text = _decoded(raw, line_number, encoding, label or str(path))
            yield line_number, text, next(csv.reader([text]), [])


def _kinds(header: list[str], schema: TaxiSchema) -> list[str]:
    return [schema.kinds.get(schema.source_column(c) or '', 'str') for c in header]


def bad_rows(
    path: Path, schema: TaxiSchema, encoding: str = UTF8, label: str | None = None
) -> Iterator[tuple[int, str]]:
    """(line number, what is wrong) of every line whose field count or values do not fit."""
    header = read_header(path, label or str(path), encoding)
    kinds = _kinds(header, schema)
    for line_number, _, fields in _lines(path, encoding, label):
        problem = _problem(line_number, fields, header, kinds)
        if problem:
            yield line_number, problem


def split_bad_rows(src: Path, good: Path, rejects: Path, schema: TaxiSchema, encoding: str = UTF8) -> tuple[int, int]:
    """Copy src (in `encoding`) to `good` (utf-8) without its malformed lines; write those to
    `rejects` (a CSV of line, reason, text), renamed into place only when complete. Returns
    (good rows, rejected rows)."""
    header = read_header(src, str(src), encoding)
    kinds = _kinds(header, schema)
    kept = rejected = 0
    part = rejects.with_name(rejects.name + '.part')
    try:
        with (
            gzip.open(good, 'wt', compresslevel=1, newline='', encoding=UTF8) as out,
            open(part, 'w', newline='', encoding=UTF8) as bad,
        ):
            out.write(','.join(header) + '\n')
            writer = csv.writer(bad)
            writer.writerow(['line', 'reason', 'text'])
            for line_number, text, fields in _lines(src, encoding):
                problem = _problem(line_number, fields, header, kinds)
                if problem:
                    writer.writerow([line_number, problem, text.rstrip('\r\n')])
                    rejected += 1
                else:
                    out.write(text)
                    kept += 1
        os.replace(part, rejects)
    finally:
        part.unlink(missing_ok=True)
    return kept, rejected


class RowGroupWriter:
    """Writes small batches as row groups of about ROW_GROUP_ROWS rows (few, readable groups,
    while the batches stay small enough to keep memory flat)."""

    def __init__(self, writer: pq.ParquetWriter):
        self._writer = writer
        self._pending: list[pa.RecordBatch] = []
        self._rows = 0

    def write_batch(self, batch: pa.RecordBatch) -> None:
        self._pending.append(batch)
        self._rows += batch.num_rows
        if self._rows >= ROW_GROUP_ROWS:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            self._writer.write_table(pa.Table.from_batches(self._pending), row_group_size=self._rows)
        self._pending, self._rows = [], 0


@contextmanager
def parquet_writer(dest: Path, schema: pa.Schema) -> Iterator[RowGroupWriter]:
    """A parquet writer on dest.part, renamed to dest only if the block exits cleanly."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + '.part')
    try:
        with pq.ParquetWriter(part, schema, compression='snappy') as writer:
            grouped = RowGroupWriter(writer)
            yield grouped
            grouped.flush()
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)


def write_parquet(dest: Path, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> int:
    """Write `batches` to dest (atomically, see parquet_writer); return the row count.

    Batches are written in a background thread while the next ones are produced (parsed,
    cleaned), so the two overlap on two cores. The producer may run up to a row group's
    worth of rows ahead (a row group's write would stall it otherwise), no further.
    """
    rows = 0
    with parquet_writer(dest, schema) as writer, ThreadPoolExecutor(1, 'parquet-writer') as background:
        pending: deque[tuple[Future, int]] = deque()
        for batch in batches:
            while pending and sum(n for _, n in pending) >= ROW_GROUP_ROWS:
                pending.popleft()[0].result()  # a failed write (disk full) stops the producer here
            pending.append((background.submit(writer.write_batch, batch), batch.num_rows))
            rows += batch.num_rows
        while pending:
            pending.popleft()[0].result()
    return rows


def csv_to_parquet(src: Path, dest: Path, schema: TaxiSchema, label: str, encoding: str = UTF8) -> int:
    """Convert a gzip CSV file to a typed parquet file; return the row count."""
    rows = write_parquet(dest, schema.arrow_schema(), iter_csv_batches(src, schema, label, encoding))
    log.info('parsed %s rows from %s', f'{rows:,}', label)
    return rows


def csv_to_parquet_keeping_rejects(
    src: Path, dest: Path, schema: TaxiSchema, label: str, max_reject_ratio: float, encoding: str = UTF8
) -> dict[str, int | str | None]:
    """csv_to_parquet, but malformed rows are kept aside in rejects.csv (line, reason, text)
    next to dest, and the good rows load, unless more than max_reject_ratio of them are bad. A
    line that is not text in `encoding` fails the file (EncodingError): it is not a row's fault."""
    rejects = dest.with_name('rejects.csv')
    rejects.unlink(missing_ok=True)
    try:
        return {'rows': csv_to_parquet(src, dest, schema, label, encoding), 'rows_rejected': 0, 'rejects_path': None}
    except MalformedRowsError as e:
        first = str(e).removeprefix(f'{label}: ')
    accepted = dest.with_name('accepted.csv.gz')  # written in utf-8, whatever src's encoding
    try:
        kept, rejected = split_bad_rows(src, accepted, rejects, schema, encoding)
        if rejected > max_reject_ratio * (kept + rejected):
            raise MalformedRowsError(
                f'{label}: {rejected:,} of {kept + rejected:,} rows are malformed, more than '
                f'max_reject_ratio={max_reject_ratio} allows; the first: {first}; all of them: {rejects}'
            )
        rows = csv_to_parquet(accepted, dest, schema, label)
    finally:
        accepted.unlink(missing_ok=True)
    log.warning('%s: %s malformed rows kept aside in %s (the first: %s)', label, f'{rejected:,}', rejects, first)
    return {'rows': rows, 'rows_rejected': rejected, 'rejects_path': str(rejects)}


def first_rows(path: Path, rows: int = 10) -> pd.DataFrame:
    """The first `rows` rows of a parquet file as a pandas DataFrame, from one small batch (never
    the month): what the course's DataFrame loader would show of it in the editor."""
    head = next(iter_parquet_batches(path, rows), None)
    return (head if head is not None else pq.read_schema(path).empty_table()).to_pandas().head(rows)


def iter_parquet_batches(
    path: Path, batch_rows: int = BATCH_ROWS, columns: list[str] | None = None
) -> Iterator[pa.RecordBatch]:
    """The file's rows (or `columns`), batch by batch, one row group in memory at a time.

    pre_buffer=False: with pyarrow's default (True) the reader keeps what it fetched of every
    row group read so far, so its memory grows with the file: iterating a 7.67 M-row month
    peaked at 213 MB of Arrow memory against 49 MB for a 1.37 M-row one; without it, 14 MB for
    both (README, "How fast, how much memory").
    """
    with pq.ParquetFile(path, pre_buffer=False) as f:
        yield from f.iter_batches(batch_size=batch_rows, columns=columns)
