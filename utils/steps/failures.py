"""Why a block failed, said first, in one line, in the three places a person looks.

When a block of a server-triggered run raises, scripts/mage/mage_patches/ calls block_failed()
before Mage logs anything of its own: the block's first ERROR record in Mage's log (the first
red row of the run's log list, beside the block's name) is then the reason, e.g.

    ValueError: pipeline variable month=13 is outside 1..12
    yellow 2021-05, HTTP 404 Not Found: SourceError: GET …/yellow_tripdata_2021-05.csv.gz answered
    HTTP 404 …; load_taxi_csv failed for yellow 2021-05

instead of Mage's "Exception thrown when attempting to run <function …>" and its traceback.
The same line goes on the block run Mage alerts from (utils/steps/alerts.py) and, when the block wrote
no audit row of its own (variables refused before any load, a dbt build, a sensor), into
load_audit as the run's failed row: every failed run has one, which the dashboard counts.

A dbt block's exception says little (Mage raises Exception('None') when a dbt test fails), so its
reason is read from dbt's own run_results.json: the nodes that failed and what dbt said.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from utils.domain.errors import reason
from utils.steps import audit
from utils.steps.alerts import record_block_error
from utils.steps.run_month import month_of_run

log = logging.getLogger(__name__)


def dbt_reason(target_dir: Path, since: datetime) -> str | None:
    """What failed in the dbt invocation whose run_results.json (in target_dir) was written
    after `since`: 'dbt test dim_zones_has_every_trip_zone fail: Got 1 result, configured to
    fail if != 0'; None when dbt wrote none (it stopped before running a node: its exception
    then says why)."""
    results = target_dir / 'run_results.json'
    try:
        if datetime.fromtimestamp(results.stat().st_mtime, timezone.utc) < since:
            return None
        nodes = json.loads(results.read_text())['results']
    except (OSError, ValueError, KeyError):
        return None
    failed = [
        f'dbt {node["unique_id"].split(".")[0]} {node["unique_id"].split(".")[-1]} {node["status"]}: '
        f'{" ".join(str(node.get("message") or "").split())}'
        for node in nodes
        if node.get('status') in ('fail', 'error')
    ]
    return '; '.join(failed) or None


def dbt_target_dir(project: Path, block_content: str | None) -> Path:
    """Where a dbt block's dbt writes run_results.json: its --target-path, else target/."""
    found = re.search(r'--target-path\s+(\S+)', block_content or '')
    return project / (found.group(1) if found else 'target')


def block_failed(
    block_uuid: str, error: BaseException, variables: Mapping[str, Any], say: Any, dbt_reason_text: str | None = None
) -> str:
    """Say why `block_uuid` failed (say: the block's Mage logger's error method), put it on the
    alert ('<block> failed: <why>'), and give the run its failed audit row if the block wrote
    none. Returns the reason."""
    why = dbt_reason_text or reason(error)
    say(why)  # the log list's Block column names the block
    run = {**variables, 'block_uuid': block_uuid}
    record_block_error(run, error, f'{block_uuid} failed: {why}')
    if not getattr(error, audit.AUDITED, False):
        _audit_failed_run(run, block_uuid, why)
    return why


def _audit_failed_run(run: Mapping[str, Any], block_uuid: str, why: str) -> None:
    """The failed row of a run whose block wrote none: its service and the month it was for, as
    every block picks it (run_month.month_of_run: a scheduled or backfill run's month comes from its
    date), left empty when the run's variables name none that is valid."""
    try:
        month: date | None = month_of_run(run, quiet=True).first_day
    except Exception:  # noqa: BLE001 - a run refused for its variables has no month to name
        month = None
    service = run.get('service')
    audit.record_failed_run(run, block_uuid, None if service is None else str(service)[:100], month, why)
