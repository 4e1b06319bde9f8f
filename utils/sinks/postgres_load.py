"""Atomic, idempotent month loads into PostgreSQL through binary COPY.

`ny_taxi.<service>_taxi_data` is partitioned by `source_month` (LIST): one partition per
source file. A load COPYs the month into a standalone staging table (a transaction that takes
no lock on the table itself, so loads of other months run alongside), then, in one short
transaction that locks the table first, drops the month's old partition and attaches the staging
table in its place. Until that COMMIT readers see the old month; if anything fails, every month
stays as it was (a staging table left by a killed process is dropped by the next load); a rerun
replaces the month, never duplicating it; other months are never touched. Two loads of the SAME
month are serialised by the caller (utils/sinks/month_lock.py): they would share the staging table.

Rows go over the wire in PostgreSQL's binary COPY format, encoded from Arrow batches by pgpq:
the server stores the integers, floats and timestamps as they are instead of parsing text
(the export block of a full month: ~1.1 s, against ~4.3 s with COPY ... CSV, both by the
block logs of `make bench`), and values arrive bit-exact (no float or timestamp formatting).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date

import psycopg2
import pyarrow as pa
from pgpq import ArrowToPostgresBinaryEncoder
from psycopg2 import sql

from utils.domain.data_dictionary import describe
from utils.domain.progress import Progress
from utils.domain.taxi_schema import TaxiSchema, postgres_type
from utils.sinks.environment import progress_seconds

log = logging.getLogger(__name__)

PARTITION_KEY = 'source_month'


class LoadError(RuntimeError):
    """The load was cut off (server gone, session killed); nothing was committed."""


_IDENTIFIER = re.compile(r'[a-z_][a-z0-9_]{0,62}')


def check_identifier(name: str, what: str) -> str:
    """Schema and table names come from settings: allow plain lower-case SQL identifiers only."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise ValueError(
            f'{what} {name!r} is not a valid identifier (lower-case letters, digits and _, '
            'not starting with a digit, at most 63 characters)'
        )
    return name


def table_name(service: str) -> str:
    return check_identifier(f'{service}_taxi_data', 'table name')


def binary_copy(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Iterator[bytes]:
    """The bytes of a `COPY ... FROM STDIN WITH (FORMAT binary)`: header, one chunk per batch,
    trailer. Arrow int64/float64/string/timestamp[us] become BIGINT/DOUBLE PRECISION/TEXT/TIMESTAMP."""
    encoder = ArrowToPostgresBinaryEncoder(schema)
    yield encoder.write_header()
    for batch in batches:
        if not batch.schema.equals(schema):
            raise ValueError(f'a batch to load has the columns {batch.schema}, expected {schema}')
        yield encoder.write_batch(batch)
    yield encoder.finish()


class ChunkStream:
    """A read()-able file over an iterator of byte chunks, for psycopg2's copy_expert.

    read() may return fewer bytes than asked (at most one chunk's worth), as a pipe does;
    copy_expert reads until it gets b''.
    """

    def __init__(self, chunks: Iterable[bytes], progress: Progress | None = None):
        self._chunks: Iterator[bytes] = iter(chunks)
        self._chunk = memoryview(b'')
        self.bytes_read = 0
        self.progress = progress

    def read(self, size: int = -1) -> bytes:
        while not self._chunk:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b''
            self._chunk = memoryview(chunk)
            if self.progress:
                self.progress.add(len(chunk))
        size = len(self._chunk) if size < 0 else size
        out, self._chunk = self._chunk[:size], self._chunk[size:]
        self.bytes_read += len(out)
        return bytes(out)


def _column_defs(schema: TaxiSchema) -> sql.Composable:
    defs = [sql.SQL('{} {}').format(sql.Identifier(n), sql.SQL(t)) for n, t in schema.postgres_columns()]
    defs.append(sql.SQL('{} DATE NOT NULL').format(sql.Identifier(PARTITION_KEY)))
    return sql.SQL(', ').join(defs)


def _existing_columns(cur, schema_name: str, table: str) -> list[str]:
    cur.execute(
        'SELECT column_name FROM information_schema.columns '
        'WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position',
        (schema_name, table),
    )
    return [r[0] for r in cur.fetchall()]


def replace_month(
    conn,
    *,
    schema_name: str,
    taxi_schema: TaxiSchema,
    month: date,
    batches: Iterable[pa.RecordBatch],
    table: str | None = None,
) -> int:
    """Replace one month of `<schema_name>.<table>` (default `<service>_taxi_data`) with
    `batches`; return rows."""
    check_identifier(schema_name, 'POSTGRES_SCHEMA')
    table = check_identifier(table, 'table name') if table else table_name(taxi_schema.service)
    partition = check_identifier(f'{table}_{month:%Y_%m}', 'partition name')
    staging = check_identifier(f'{partition}__staging', 'staging table name')
    parent = sql.Identifier(schema_name, table)
    columns = [n for n, _ in taxi_schema.postgres_columns()]
    q = {
        'schema': sql.Identifier(schema_name),
        'parent': parent,
        'staging': sql.Identifier(schema_name, staging),
        'staging_name': sql.Identifier(staging),
        'partition': sql.Identifier(schema_name, partition),
        'partition_name': sql.Identifier(partition),
        'key': sql.Identifier(PARTITION_KEY),
        'month': sql.Literal(month),
        'check': sql.Identifier(f'{staging}_month'),
        'columns': sql.SQL(', ').join(map(sql.Identifier, columns)),
        'defs': _column_defs(taxi_schema),
    }
    stream = ChunkStream(
        binary_copy(batches, taxi_schema.arrow_schema(clean=True)),
        Progress(f'COPY into {schema_name}.{staging}', every=progress_seconds()),
    )
    with _cut_off_names_the_load(f'loading {schema_name}.{table} for {month:%Y-%m}'):
        with conn:  # each `with conn` is one transaction: COMMIT, or ROLLBACK on error
            _ensure_table(conn, q, schema_name, table, columns, taxi_schema)
        with conn:
            rows = _copy_to_staging(conn, q, stream)
        with conn:
            _swap_in(conn, q)
    _log_replaced(f'{schema_name}.{table} for {month:%Y-%m}', rows, stream)
    return rows


@contextmanager
def _cut_off_names_the_load(what: str) -> Iterator[None]:
    """The server or the connection went away mid-load: closing the block would then report only
    "connection already closed", so raise a LoadError that names the load and the cause."""
    try:
        yield
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as e:
        cause = e.__context__ if isinstance(e, psycopg2.InterfaceError) and e.__context__ else e
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise LoadError(f'{what} failed: {reason}; the table was left as it was (nothing was committed)') from e


def replace_table(
    conn, *, schema_name: str, table: str, arrow_schema: pa.Schema, batches: Iterable[pa.RecordBatch]
) -> int:
    """Replace the whole table <schema_name>.<table> with `batches` (the homework's "replace"):
    binary COPY into a staging table, then one short transaction drops the old table and renames
    the staging table in its place. Until that COMMIT readers see the old rows; if anything
    fails, the table stays as it was. Returns the rows loaded."""
    check_identifier(schema_name, 'schema name')
    check_identifier(table, 'table name')
    staging = check_identifier(f'{table}__staging', 'staging table name')
    q = {
        'schema': sql.Identifier(schema_name),
        'table': sql.Identifier(schema_name, table),
        'staging': sql.Identifier(schema_name, staging),
        'table_name': sql.Identifier(table),
        'defs': sql.SQL(', ').join(
            sql.SQL('{} {}').format(sql.Identifier(f.name), sql.SQL(postgres_type(f.type))) for f in arrow_schema
        ),
    }
    stream = ChunkStream(
        binary_copy(batches, arrow_schema), Progress(f'COPY into {schema_name}.{staging}', every=progress_seconds())
    )
    with _cut_off_names_the_load(f'replacing {schema_name}.{table}'):
        with conn, conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    'CREATE SCHEMA IF NOT EXISTS {schema}; DROP TABLE IF EXISTS {staging}; '
                    'CREATE TABLE {staging} ({defs})'
                ).format(**q)
            )
            rows = _copy_binary(conn, cur, q['staging'], stream)
            comment_columns(cur, schema_name, staging)  # the comments go with the rename
        with conn, conn.cursor() as cur:
            cur.execute(
                sql.SQL('DROP TABLE IF EXISTS {table}; ALTER TABLE {staging} RENAME TO {table_name}').format(**q)
            )
    _log_replaced(f'{schema_name}.{table}', rows, stream)
    return rows


def comment_columns(cur, schema_name: str, table: str) -> int:
    """COMMENT ON COLUMN for every column of the table (or view) that the data dictionary
    (utils/domain/data_dictionary.describe) explains, so `\\d+` says what each means; returns how many."""
    described = [(c, describe(c)) for c in _existing_columns(cur, schema_name, table)]
    for column, text in described:
        if text:
            cur.execute(
                sql.SQL('COMMENT ON COLUMN {}.{} IS {}').format(
                    sql.Identifier(schema_name, table), sql.Identifier(column), sql.Literal(text)
                )
            )
    return sum(1 for _, text in described if text)


def _ensure_table(conn, q: dict, schema_name: str, table: str, columns: list[str], taxi_schema: TaxiSchema) -> None:
    """Create the schema and the partitioned table if missing; add the columns the service has
    gained since the table was made (ALTER TABLE ... ADD COLUMN: no month is rewritten, the
    months loaded before read NULL there); refuse a table with columns the service does not have.
    A transaction-scoped advisory lock keeps two first loads from creating it at once."""
    with conn.cursor() as cur:
        cur.execute('SELECT pg_advisory_xact_lock(hashtext(%s))', (f'create {schema_name}.{table}',))
        cur.execute(sql.SQL('CREATE SCHEMA IF NOT EXISTS {schema}').format(**q))
        cur.execute(sql.SQL('CREATE TABLE IF NOT EXISTS {parent} ({defs}) PARTITION BY LIST ({key})').format(**q))
        found = _existing_columns(cur, schema_name, table)
        unknown = [c for c in found if c not in [*columns, PARTITION_KEY]]
        if unknown or PARTITION_KEY not in found:
            raise ValueError(
                f'table {schema_name}.{table} exists with other columns than the '
                f'{taxi_schema.service} schema ({", ".join(unknown) or "no " + PARTITION_KEY}): drop it or set '
                'another POSTGRES_SCHEMA'
            )
        for name, kind in taxi_schema.postgres_columns():
            if name not in found:
                cur.execute(
                    sql.SQL('ALTER TABLE {} ADD COLUMN {} {}').format(q['parent'], sql.Identifier(name), sql.SQL(kind))
                )
                log.info(
                    'added the column %s %s to %s.%s (the months loaded before read NULL there)',
                    name,
                    kind,
                    schema_name,
                    table,
                )
        comment_columns(cur, schema_name, table)


def _copy_to_staging(conn, q: dict, stream: ChunkStream) -> int:
    """A fresh staging table shaped like the month's partition (its CHECK lets ATTACH skip the
    scan), filled by binary COPY. Built from the column list, not LIKE the parent: no lock on it."""
    with conn.cursor() as cur:
        cur.execute(sql.SQL('DROP TABLE IF EXISTS {staging}').format(**q))
        cur.execute(
            sql.SQL(
                'CREATE TABLE {staging} ({defs}); '
                'ALTER TABLE {staging} ALTER COLUMN {key} SET DEFAULT {month}, '
                'ADD CONSTRAINT {check} CHECK ({key} = {month})'
            ).format(**q)
        )
        return _copy_binary(conn, cur, sql.SQL('{staging} ({columns})').format(**q), stream)


def _copy_binary(conn, cur, target: sql.Composable, stream: ChunkStream) -> int:
    """COPY the stream's rows (PostgreSQL's binary format) into `target`, a table or a table and
    its columns, in the cursor's transaction; returns the rows."""
    copy = sql.SQL('COPY {} FROM STDIN WITH (FORMAT binary)').format(target)
    cur.copy_expert(copy.as_string(conn), stream, size=1 << 20)
    return cur.rowcount


def _log_replaced(what: str, rows: int, stream: ChunkStream) -> None:
    log.info('replaced %s: %s rows (%.1f MB through binary COPY)', what, f'{rows:,}', stream.bytes_read / 1e6)


def _swap_in(conn, q: dict) -> None:
    """The month's old partition out, the staging table in: one short transaction that takes the
    table's lock before anything else (two swaps then queue instead of deadlocking)."""
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                'LOCK TABLE {parent} IN ACCESS EXCLUSIVE MODE; '
                'DROP TABLE IF EXISTS {partition}; '
                'ALTER TABLE {staging} RENAME TO {partition_name}; '
                'ALTER TABLE {parent} ATTACH PARTITION {partition} FOR VALUES IN ({month})'
            ).format(**q)
        )


def count_month(conn, schema_name: str, service: str, month: date) -> int:
    with conn.cursor() as cur:
        cur.execute(
            sql.SQL('SELECT count(*) FROM {} WHERE {} = %s').format(
                sql.Identifier(check_identifier(schema_name, 'POSTGRES_SCHEMA'), table_name(service)),
                sql.Identifier(PARTITION_KEY),
            ),
            (month,),
        )
        return cur.fetchone()[0]
