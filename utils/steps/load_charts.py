"""What the pipelines' dashboards draw (Mage chart blocks, charts/): each function returns the
DataFrame one chart aggregates, read from the audit trail (utils/steps/audit.py) or from the marts.

Each pipeline's dashboard (Pipelines > <pipeline> > Dashboard) is a Mage page block layout,
dashboards/pipelines/<pipeline>/dashboard/block_layout.yaml (scripts/mage/start_mage.py points
MAGE_PRESENTERS_DIRECTORY at dashboards/). A chart there names the pipeline it is about in its
configuration (`pipeline:`), so one chart file serves every pipeline's dashboard; the marts' zone
chart reads the month to show from its pipeline's variables (service, year, month).

Runs of `mage run` (no Mage run id) are in the audit trail but not in the per-run chart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd
from psycopg2 import sql

from utils.domain.taxi_source import TaxiMonth
from utils.sinks.environment import postgres_connection, postgres_schema
from utils.sinks.postgres_load import check_identifier
from utils.steps import month_check
from utils.steps.audit import TABLE

RUNS_SHOWN = 8  # the per-run chart: the latest runs of the pipeline (a bar per block of each)
ZONES_SHOWN = 15  # the marts' zone chart: the zones with the highest revenue
# Mage draws at most 50 bars a chart, and a bar needs ~20 px for its label to be read: the latest
MONTHS_READ_SHOWN = 12  # service-months in "rows read per month" (one bar each)
MONTHS_SPLIT_SHOWN = 8  # service-months in "what became of the rows" (three bars each)
DAYS_SHOWN = 10  # days in "runs and failed runs per day" (two bars each)


def _audit_query(query: str, params: list[Any], table: str = TABLE) -> pd.DataFrame:
    schema_name = check_identifier(postgres_schema(), 'POSTGRES_SCHEMA')
    with postgres_connection() as conn, conn.cursor() as cur:
        cur.execute('SELECT to_regclass(%s)', (f'{schema_name}.{table}',))
        if cur.fetchone()[0] is None:  # nothing loaded yet: an empty chart, not an error
            return pd.DataFrame()
        cur.execute(sql.SQL(query).format(audit=sql.Identifier(schema_name, table)), params)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


def pipeline_of(configuration: Mapping[str, Any] | None) -> str:
    """The pipeline a dashboard chart is about: its configuration's `pipeline`."""
    pipeline = (configuration or {}).get('pipeline')
    if not pipeline:
        raise ValueError("this chart has no `pipeline:` in its configuration (the dashboard's block_layout.yaml)")
    return pipeline


def rows_per_month(pipeline: str) -> pd.DataFrame:
    """One row per service and month the pipeline wrote: from its latest successful write, the rows
    read from the source, kept (written to the target) and rejected as malformed (rows_read minus
    the two: those the cleaning rules dropped)."""
    return _audit_query(
        """SELECT service || ' ' || to_char(month, 'YYYY-MM') AS month, rows_read, rows_kept, rows_rejected
           FROM (SELECT DISTINCT ON (service, month) service, month, rows_read, rows_loaded AS rows_kept,
                        coalesce(rows_rejected, 0) AS rows_rejected
                 FROM {audit} WHERE pipeline_uuid = %s AND status = 'succeeded' AND rows_loaded IS NOT NULL
                 ORDER BY service, month, id DESC) latest
           ORDER BY latest.month, service""",
        [pipeline],
    )


def seconds_per_block(pipeline: str, blocks: list[str], shown: int = RUNS_SHOWN) -> pd.DataFrame:
    """The pipeline's latest `shown` runs that did not fail (Mage run ids), each block of each one a
    row: `run`, labelled `#<run id> <service> <month> <block>` (what the run loaded; the run ids
    padded to one width, so that the labels sort as the runs), and the `seconds` the block took
    (its retries added up). A failed run is left out, not drawn as a fast one: it is counted on
    the failures chart (a run whose latest audit row is a failure, as failures_per_day counts it)."""
    frame = _audit_query(
        """SELECT run_id, block, min(service) AS service, min(month) AS month,
                  sum(extract(epoch FROM finished_at - started_at)) AS seconds
           FROM {audit} WHERE pipeline_uuid = %s AND run_id IN (
               SELECT run_id FROM {audit} WHERE pipeline_uuid = %s AND run_id IS NOT NULL
               GROUP BY run_id HAVING (array_agg(status ORDER BY id DESC))[1] <> 'failed'
               ORDER BY run_id DESC LIMIT %s)
           GROUP BY run_id, block""",
        [pipeline, pipeline, shown],
    )
    if frame.empty:
        return pd.DataFrame(columns=['run', 'seconds'])
    took: dict[tuple[int, str], float] = {}
    loaded: dict[int, str] = {}  # per run: what it loaded
    for run_id, block, service, month, seconds in frame[['run_id', 'block', 'service', 'month', 'seconds']].itertuples(
        index=False
    ):
        took[int(run_id), block] = float(seconds)
        loaded[int(run_id)] = f'{service} {month:%Y-%m}' if service and month is not None else 'no month'
    width = len(str(max(loaded)))
    bars = [
        (f'#{run_id:0{width}d} {loaded[run_id]} {seconds_column(block)}', round(took.get((run_id, block), 0.0), 2))
        for run_id in sorted(loaded)
        for block in blocks
    ]
    return pd.DataFrame(bars, columns=['run', 'seconds'])


def seconds_column(block: str) -> str:
    """A block's short name in the per-run chart's labels (`load`, `postgres`, `gcs`, `gcs/day`):
    Mage gives a horizontal bar chart's labels a fixed width, about 29 characters at 1280 px."""
    return {'load_taxi_csv': 'load', 'export_taxi_to_gcs_partitioned': 'gcs/day'}.get(
        block, block.removeprefix('export_taxi_to_')
    )


def failures_per_day(pipeline: str) -> pd.DataFrame:
    """Per day (UTC, of a run's first audit row) the pipeline's server runs, and how many of them
    failed: a run whose latest audit row is a failure (a failed attempt that a retry mended is
    not one). Every failed run has an audit row, a run refused for its variables too
    (utils/steps/failures.py); `mage run` attempts (no run id) are not Mage runs and are not counted."""
    return _audit_query(
        """SELECT to_char(first_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, count(*) AS runs,
                  count(*) FILTER (WHERE last_status = 'failed') AS failed_runs
           FROM (SELECT run_id, min(started_at) AS first_at, (array_agg(status ORDER BY id DESC))[1] AS last_status
                 FROM {audit} WHERE pipeline_uuid = %s AND run_id IS NOT NULL GROUP BY run_id) runs
           GROUP BY 1 ORDER BY 1""",
        [pipeline],
    )


UNUSUAL_COLUMNS = ['month', 'checked (UTC)', 'what is unusual']


def unusual_months(pipeline: str) -> pd.DataFrame:
    """The months this pipeline's latest check of them found unlike their neighbours
    (utils/steps/month_check.py), newest check first: `fhv 2019-08`, when, and what."""
    frame = _audit_query(
        """SELECT service || ' ' || to_char(month, 'YYYY-MM') AS month,
                  to_char(checked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') AS checked, findings
           FROM {audit} WHERE pipeline_uuid = %s ORDER BY checked_at DESC, service, month""",
        [pipeline],
        month_check.TABLE,
    )
    return pd.DataFrame(frame.to_numpy() if not frame.empty else [], columns=UNUSUAL_COLUMNS)


def rows_read_log_scale(months: pd.DataFrame, shown: int = MONTHS_READ_SHOWN) -> pd.DataFrame:
    """The rows read per month on a log10 scale, so a 1,197-row month shows beside a 95,120-row
    one (the chart's axis prints 10^value: its x_axis_label_format in block_layout.yaml); the
    latest `shown` service-months."""
    if months.empty:
        return pd.DataFrame(columns=['month', 'log10_rows_read'])
    months = months.tail(shown)
    logs = months['rows_read'].astype(float).clip(lower=1).map(math.log10).round(3)
    return pd.DataFrame({'month': months['month'], 'log10_rows_read': logs})


def what_became_of_the_rows(months: pd.DataFrame, shown: int = MONTHS_SPLIT_SHOWN) -> pd.DataFrame:
    """Per month, what became of the rows read, in % of them: `kept` (written to the target),
    `dropped` (by the cleaning rules), `malformed` (kept aside in rejects.csv). One bar each,
    labelled `<service> <month> <what>`: the bar's label is its legend. The latest `shown`
    service-months."""
    if months.empty:
        return pd.DataFrame(columns=['month', 'percent_of_rows_read'])
    months = months.tail(shown)
    shares = []
    for month, read, kept, rejected in months[['month', 'rows_read', 'rows_kept', 'rows_rejected']].itertuples(
        index=False
    ):
        read = int(read) or 1
        for what, rows in (('kept', kept), ('dropped', read - kept - rejected), ('malformed', rejected)):
            shares.append((f'{month} {what}', round(100 * int(rows) / read, 2)))
    return pd.DataFrame(shares, columns=['month', 'percent_of_rows_read'])


def runs_per_day_labelled(days: pd.DataFrame, shown: int = DAYS_SHOWN) -> pd.DataFrame:
    """failures_per_day as one bar per day and count, labelled `<day> runs` / `<day> failed`;
    the latest `shown` days."""
    if days.empty:
        return pd.DataFrame(columns=['day', 'runs'])
    days = days.tail(shown)
    bars = [
        (f'{day} {what}', int(n))
        for day, runs, failed in days[['day', 'runs', 'failed_runs']].itertuples(index=False)
        for what, n in (('runs', runs), ('failed', failed))
    ]
    return pd.DataFrame(bars, columns=['day', 'runs'])


def zone_revenue(pipeline: str, variables: Mapping[str, Any], zones: int = ZONES_SHOWN) -> pd.DataFrame:
    """The mart pipeline's month (its variables service, year, month: change them in the
    pipeline's Variables to chart another month): the `zones` zones with the highest revenue,
    their revenue and trips, from dm_monthly_zone_revenue."""
    from utils.steps.marts import warehouse

    rows = warehouse(pipeline).zone_revenue(TaxiMonth.from_vars(variables), zones)
    frame = pd.DataFrame(rows, columns=['zone', 'revenue', 'trips'])
    return frame.astype({'revenue': float, 'trips': int}).round({'revenue': 2})
