"""After a month loads: is it like the same service's other months? (flag_unusual_month)

The month's rows read, share kept and share without zones are compared with its nearest loaded
months' (the latest succeeded export of each, from load_audit) by the rule of
utils/domain/unusual_month.py. A month far outside their range does not fail its run: the run
completes, and

- the block logs a WARNING naming the month and what is unusual,
- a run the server started posts a warning to ALERT_WEBHOOK_URL (titled `Mage: <pipeline>
  warning`, apart from the failure alerts' `failed`),
- the month is in <POSTGRES_SCHEMA>.unusual_months (one row a service and month: its latest
  check), which the pipelines' dashboards list; a later load of the month that is like its
  neighbours takes it off.

    SELECT * FROM ny_taxi.unusual_months ORDER BY checked_at DESC;
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import psycopg2
import requests
from psycopg2 import sql

from utils.domain.month_manifest import MonthManifest
from utils.domain.progress import plural
from utils.domain.unusual_month import MIN_NEIGHBOURS, MonthCounts, Thresholds, findings, nearest
from utils.sinks.environment import ConfigError, alert_webhook_url, postgres_connection, postgres_schema
from utils.sinks.postgres_load import check_identifier
from utils.steps.audit import RAW_TARGET
from utils.steps.audit import TABLE as AUDIT_TABLE

log = logging.getLogger(__name__)

TABLE = 'unusual_months'
# The month pipelines' exports: their audit rows hold the month's rows read, kept and without zones
# (the homework's and the BigQuery load's apply other rules or read no source).
EXPORTS = ('export_taxi_to_postgres', 'export_taxi_to_gcs', 'export_taxi_to_gcs_partitioned')


def loaded_months(service: str) -> list[MonthCounts]:
    """Each month of the service that a month pipeline loaded (cleaned), as its latest succeeded
    export recorded it."""
    schema_name = check_identifier(postgres_schema(), 'POSTGRES_SCHEMA')
    query = sql.SQL(
        'SELECT DISTINCT ON (month) month, rows_read, rows_kept, rows_without_zones FROM {} '
        "WHERE service = %s AND status = 'succeeded' AND block = ANY(%s) AND target IS NOT NULL "
        'AND target !~ %s AND rows_read IS NOT NULL AND rows_kept IS NOT NULL ORDER BY month, id DESC'
    ).format(sql.Identifier(schema_name, AUDIT_TABLE))
    with postgres_connection() as conn, conn, conn.cursor() as cur:
        cur.execute('SELECT to_regclass(%s)', (f'{schema_name}.{AUDIT_TABLE}',))
        if cur.fetchone()[0] is None:
            return []
        cur.execute(query, (service, list(EXPORTS), RAW_TARGET))
        return [MonthCounts(*row) for row in cur.fetchall()]


def flag_unusual_month(manifest: Mapping[str, Any], variables: Mapping[str, Any]) -> dict[str, Any]:
    """Compare the month the run loaded with its neighbours; warn, alert and record it when it is
    far outside their range. Returns what was compared and found (the block's output)."""
    m = MonthManifest.of(manifest)
    said: dict[str, Any] = {
        'service': m.month.service,
        'month': m.month.first_day.isoformat(),
        'neighbours': [],
        'findings': [],
    }
    if m.unchanged or m.month.raw or m.rows is None or m.rows_out is None:
        why = 'skipped as unchanged' if m.unchanged else 'a raw load' if m.month.raw else 'no counts'
        log.info('%s: not compared with its neighbours (%s)', m.month.label, why)
        return {**said, 'compared': False, 'why': why}
    thresholds = Thresholds.from_vars(variables)  # a bad threshold fails the run, naming itself
    this = MonthCounts(m.month.first_day, m.rows, m.rows_out, m.rows_without_zones)
    try:
        loaded = loaded_months(m.month.service)
    except (ConfigError, psycopg2.Error) as e:  # the audit's store is down: the load stands, as its audit row's
        log.warning('%s: not compared with its neighbours: %s: %s', m.month.label, type(e).__name__, e)
        return {**said, 'compared': False, 'why': 'the audit trail cannot be read'}
    neighbours = nearest(this.month, loaded, thresholds.neighbours)
    said = {**said, 'neighbours': [n.month.isoformat() for n in neighbours]}
    if len(neighbours) < MIN_NEIGHBOURS:  # a service's first months: nothing to compare with yet
        why = f'{plural(len(neighbours), "other month")} of the service loaded, {MIN_NEIGHBOURS} needed'
        log.info('%s: not compared with its neighbours: %s', m.month.label, why)
        _record(m, variables, None)
        return {**said, 'compared': False, 'why': why}
    found = findings(this, neighbours, thresholds)
    said = {**said, 'compared': True, 'findings': found}
    if not found:
        log.info('%s is like its neighbours (%s)', m.month.label, ', '.join(f'{n.month:%Y-%m}' for n in neighbours))
        _record(m, variables, None)
        return said
    text = (
        f'{m.month.label} is unlike its neighbours ({", ".join(f"{n.month:%Y-%m}" for n in neighbours)}): '
        + '; '.join(found)
    )
    log.warning('%s', text)
    _record(m, variables, text)
    _alert(variables, text)
    return said


def _record(m: MonthManifest, variables: Mapping[str, Any], text: str | None) -> None:
    """The month's row in unusual_months: written when it is unusual, removed when it is not; a
    row that cannot be written is said in the log (the warning and the alert still go out)."""
    try:
        _write(m, variables, text)
    except (ConfigError, psycopg2.Error) as e:
        log.warning('%s: unusual_months not updated: %s: %s', m.month.label, type(e).__name__, e)


def _write(m: MonthManifest, variables: Mapping[str, Any], text: str | None) -> None:
    schema_name = check_identifier(postgres_schema(), 'POSTGRES_SCHEMA')
    table = sql.Identifier(schema_name, TABLE)
    with postgres_connection() as conn, conn, conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                'CREATE TABLE IF NOT EXISTS {} (service TEXT NOT NULL, month DATE NOT NULL, pipeline_uuid TEXT, '
                'run_id BIGINT, checked_at TIMESTAMPTZ NOT NULL, findings TEXT NOT NULL, PRIMARY KEY (service, month))'
            ).format(table)
        )
        if text is None:
            cur.execute(
                sql.SQL('DELETE FROM {} WHERE service = %s AND month = %s').format(table),
                (m.month.service, m.month.first_day),
            )
            return
        cur.execute(
            sql.SQL(
                'INSERT INTO {} (service, month, pipeline_uuid, run_id, checked_at, findings) '
                'VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (service, month) DO UPDATE SET '
                'pipeline_uuid = EXCLUDED.pipeline_uuid, run_id = EXCLUDED.run_id, '
                'checked_at = EXCLUDED.checked_at, findings = EXCLUDED.findings'
            ).format(table),
            (
                m.month.service,
                m.month.first_day,
                variables.get('pipeline_uuid'),
                variables.get('pipeline_run_id'),
                datetime.now(timezone.utc),
                text,
            ),
        )


def _alert(variables: Mapping[str, Any], text: str) -> None:
    """A warning to the alerts' webhook (Slack's message layout, as Mage's own alerts), for a run
    the server started; never raises: the month loaded, and the log has the warning."""
    url, run_id, pipeline = alert_webhook_url(), variables.get('pipeline_run_id'), variables.get('pipeline_uuid')
    if not url or run_id is None:
        return
    schema_name = postgres_schema()
    details = (
        f'Pipeline `{pipeline}`, run {run_id}, completed, but {text}\n'
        f'Unusual months: `SELECT * FROM {schema_name}.{TABLE} ORDER BY checked_at DESC`'
    )
    payload = {
        'blocks': [
            {'type': 'header', 'text': {'type': 'plain_text', 'text': f'Mage: {pipeline} warning'}},
            {'type': 'divider'},
            {'type': 'section', 'text': {'type': 'mrkdwn', 'text': details}},
        ]
    }
    try:
        requests.post(url, json=payload, timeout=10).raise_for_status()
    except requests.RequestException as e:  # its text would hold the webhook's URL, a secret: not logged
        status = getattr(e.response, 'status_code', None)
        log.warning('the warning alert was not sent: %s%s', type(e).__name__, f' (HTTP {status})' if status else '')
