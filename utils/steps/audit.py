"""The audit trail: one row per load attempt in <POSTGRES_SCHEMA>.load_audit.

Every block that reads the source or writes a target (load_taxi_csv, the exports to PostgreSQL,
GCS and BigQuery) records each attempt, a Mage retry's too: who ran it (pipeline, Mage run id,
block), what it loaded (service, month, source URL, target), the counts (bytes, rows read, kept,
rejected as malformed, dropped by each cleaning rule), when, and how it ended (`succeeded` |
`failed`, with the error). The row is written in a transaction of its own after the attempt, so a
failed load leaves its row while the load itself rolled back. PostgreSQL is the project's
operational store: the GCS and BigQuery loads write their rows there too.

When PostgreSQL itself cannot be reached, the row cannot be written: the block log says so and
the attempt's own outcome is unchanged (an audit write never fails a load, nor hides its error).

The history of a month:

    SELECT started_at, pipeline_uuid, run_id, block, status, rows_read, rows_kept, error
    FROM ny_taxi.load_audit WHERE service = 'green' AND month = '2020-10-01' ORDER BY id;
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from psycopg2 import sql

from utils.domain.errors import reason
from utils.sinks.environment import postgres_connection, postgres_schema
from utils.sinks.postgres_load import check_identifier

log = logging.getLogger(__name__)

TABLE = 'load_audit'
AUDITED = '_written_to_load_audit'  # set on an exception whose failed attempt has its row here
RAW_TARGET = r'_raw(_taxi_data|_tripdata|/|_partitioned)'  # the target of a cleaning=raw load (a regex)
STATUSES = ('succeeded', 'failed', 'skipped')  # skipped: the source had not changed since the last load

# column -> (PostgreSQL type, the manifest key it is read from, if any)
COLUMNS: dict[str, tuple[str, str | None]] = {
    'pipeline_uuid': ('TEXT', None),
    'run_id': ('BIGINT', None),
    'block': ('TEXT NOT NULL', None),
    'service': ('TEXT', 'service'),  # empty, with month, only for a run refused before it had one
    'month': ('DATE', None),
    'source_url': ('TEXT', 'url'),
    'source_version': ('TEXT', 'source_version'),  # the file's ETag, or Last-Modified and size
    'target': ('TEXT', None),
    'bytes': ('BIGINT', 'bytes'),
    'rows_read': ('BIGINT', 'rows'),
    'rows_rejected': ('BIGINT', 'rows_rejected'),
    'rows_kept': ('BIGINT', 'rows_out'),
    'rows_dropped': ('JSONB', 'dropped'),
    'rows_loaded': ('BIGINT', 'rows_loaded'),
    'rows_without_zones': ('BIGINT', 'rows_without_zones'),  # of rows_kept: pickup or dropoff zone unknown
    'started_at': ('TIMESTAMPTZ NOT NULL', None),
    'finished_at': ('TIMESTAMPTZ NOT NULL', None),
    'status': (f'TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in STATUSES)}))', None),
    'error': ('TEXT', None),
}


def _ensure_table(cur, schema_name: str) -> None:
    cur.execute('SELECT pg_advisory_xact_lock(hashtext(%s))', (f'create {schema_name}.{TABLE}',))
    cur.execute(sql.SQL('CREATE SCHEMA IF NOT EXISTS {}').format(sql.Identifier(schema_name)))
    defs = sql.SQL(', ').join(
        sql.SQL('{} {}').format(sql.Identifier(name), sql.SQL(kind)) for name, (kind, _) in COLUMNS.items()
    )
    table = sql.Identifier(schema_name, TABLE)
    cur.execute(sql.SQL('CREATE TABLE IF NOT EXISTS {} (id BIGSERIAL PRIMARY KEY, {})').format(table, defs))
    # a table made by an older version of the project: the columns and statuses added since
    cur.execute(sql.SQL('ALTER TABLE {} ADD COLUMN IF NOT EXISTS source_version TEXT').format(table))
    cur.execute(sql.SQL('ALTER TABLE {} ADD COLUMN IF NOT EXISTS rows_without_zones BIGINT').format(table))
    cur.execute(
        sql.SQL('ALTER TABLE {} ALTER COLUMN service DROP NOT NULL, ALTER COLUMN month DROP NOT NULL').format(table)
    )
    cur.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'c' "
        "AND conname = 'load_audit_status_check'",
        (f'{schema_name}.{TABLE}',),
    )
    check = cur.fetchone()
    if check and 'skipped' not in check[0]:
        statuses = sql.SQL(COLUMNS['status'][0].split('CHECK ')[1])
        cur.execute(
            sql.SQL(
                'ALTER TABLE {} DROP CONSTRAINT load_audit_status_check, ADD CONSTRAINT '
                'load_audit_status_check CHECK ({})'
            ).format(table, statuses)
        )


def write_row(row: Mapping[str, Any]) -> None:
    """Insert one audit row, in a transaction of its own (the table is created when missing)."""
    schema_name = check_identifier(postgres_schema(), 'POSTGRES_SCHEMA')
    values = [json.dumps(row.get(c)) if c == 'rows_dropped' and row.get(c) is not None else row.get(c) for c in COLUMNS]
    with postgres_connection() as conn, conn, conn.cursor() as cur:
        _ensure_table(cur, schema_name)
        cur.execute(
            sql.SQL('INSERT INTO {} ({}) VALUES ({})').format(
                sql.Identifier(schema_name, TABLE),
                sql.SQL(', ').join(map(sql.Identifier, COLUMNS)),
                sql.SQL(', ').join(sql.Placeholder() * len(COLUMNS)),
            ),
            values,
        )


@contextmanager
def attempt(
    run: Mapping[str, Any] | None, block: str, month: date, manifest: Mapping[str, Any], target: str | None = None
) -> Iterator[dict[str, Any]]:
    """Record one attempt of `block` loading `month`. `run` holds what Mage passes a block
    (pipeline_uuid, pipeline_run_id, block_uuid); `manifest` the counts known before the attempt.
    The body puts the step's resulting manifest into the yielded dict's 'result'."""
    run = run or {}
    outcome: dict[str, Any] = {}
    started = datetime.now(timezone.utc)
    status, error = 'failed', None
    try:
        yield outcome
        status = 'succeeded'
    except BaseException as e:
        error = reason(e)
        setattr(e, AUDITED, True)  # utils/steps/failures.py writes no second row for the run
        raise
    finally:
        _record(run, block, month, {**manifest, **(outcome.get('result') or {})}, target, started, status, error)


def record_skip(run: Mapping[str, Any], block: str, month: date, manifest: Mapping[str, Any]) -> None:
    """The audit row of a load skipped because its source had not changed (status 'skipped')."""
    _record(run, block, month, manifest, None, datetime.now(timezone.utc), 'skipped', None)


def record_failed_run(run: Mapping[str, Any], block: str, service: str | None, month: date | None, error: str) -> None:
    """The failed row of a run whose block wrote none of its own (variables refused before any
    load, a sensor that gave up, a dbt build): utils/steps/failures.py's, with the month the run
    was for (empty when its variables name none that is valid)."""
    now = datetime.now(timezone.utc)
    _record(run, block, month, {'service': service}, None, now, 'failed', error)


def _record(
    run: Mapping[str, Any],
    block: str,
    month: date | None,
    counts: Mapping[str, Any],
    target: str | None,
    started: datetime,
    status: str,
    error: str | None,
) -> None:
    """Write one attempt's row; a row that cannot be written is said in the log, never raised:
    the load's own outcome stands."""
    row = {
        'pipeline_uuid': run.get('pipeline_uuid'),
        'run_id': run.get('pipeline_run_id'),
        'block': run.get('block_uuid') or block,
        'month': month,
        'target': target,
        **{column: counts.get(key) for column, (_, key) in COLUMNS.items() if key},
        'started_at': started,
        'finished_at': datetime.now(timezone.utc),
        'status': status,
        'error': error,
    }
    try:
        write_row(row)
    except Exception as e:  # noqa: BLE001 - the load's own outcome stands, audited or not
        log.warning(
            'the audit row of %s for %s %s was not written: %s: %s',
            row['block'],
            row['service'],
            f'{month:%Y-%m}' if month else '(no month)',
            type(e).__name__,
            e,
        )


@dataclass(frozen=True)
class LastLoad:
    """A loader's succeeded attempt of a month, in a run of the same pipeline."""

    run_id: int
    source_url: str
    source_version: str | None
    rows_kept: int | None  # what the run's exports loaded (its cleaned rows)
    raw: bool = False  # a raw load (cleaning=raw): its exports wrote the _raw tables


def last_loads(pipeline_uuid: str, service: str, month: date, block: str, limit: int = 5) -> list[LastLoad]:
    """The latest succeeded attempts of `block` for the month in runs of the pipeline, newest
    first, with the rows their exports loaded; [] when there is no audit table yet."""
    schema_name = check_identifier(postgres_schema(), 'POSTGRES_SCHEMA')
    query = sql.SQL(
        'SELECT l.run_id, l.source_url, l.source_version, '
        '  (SELECT max(e.rows_kept) FROM {t} e WHERE e.run_id = l.run_id AND e.pipeline_uuid = l.pipeline_uuid '
        "   AND e.target IS NOT NULL AND e.status = 'succeeded'), "
        '  coalesce((SELECT bool_or(e.target ~ %s) FROM {t} e WHERE e.run_id = l.run_id '
        '   AND e.pipeline_uuid = l.pipeline_uuid AND e.target IS NOT NULL), false) '
        'FROM {t} l WHERE l.pipeline_uuid = %s AND l.service = %s AND l.month = %s AND l.block = %s '
        "AND l.status = 'succeeded' AND l.run_id IS NOT NULL ORDER BY l.id DESC LIMIT %s"
    ).format(t=sql.Identifier(schema_name, TABLE))
    with postgres_connection() as conn, conn, conn.cursor() as cur:
        cur.execute('SELECT to_regclass(%s)', (f'{schema_name}.{TABLE}',))
        if cur.fetchone()[0] is None:
            return []
        _ensure_table(cur, schema_name)
        cur.execute(query, (RAW_TARGET, pipeline_uuid, service, month, block, limit))
        return [LastLoad(*row) for row in cur.fetchall()]
