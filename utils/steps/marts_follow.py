"""The marts follow the loads: when a server run has loaded a month, its last block starts the
marts pipeline of the same warehouse for that month (api_to_postgres -> postgres_marts,
gcs_to_bigquery -> bigquery_marts), whatever started the load: a schedule, a backfill, Run@once,
the API or `make backfill`.

It uses Mage's own mechanism, trigger_pipeline (Mage's "Trigger pipeline" block template): the
refresh is a run of the marts pipeline, under its API trigger `after a load`, in that pipeline's
run list (one at a time: its concurrency_config), with its own logs and its own alert when it
fails. The load does not wait for it, so a failed refresh never fails the load.

Not refreshed, with one log line saying why: a month skipped as unchanged (its marts are as its
last load left them), a raw load (the marts read the cleaned tables), a service without marts
(fhvhv), a run outside the server (`mage run`, the editor: run the marts pipeline yourself), or
the pipeline variable refresh_marts=false.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from utils.domain.month_manifest import MonthManifest
from utils.steps.marts import MART_SERVICES
from utils.steps.taxi_pipeline import Manifest

log = logging.getLogger(__name__)
MARTS_AFTER = {'api_to_postgres': 'postgres_marts', 'gcs_to_bigquery': 'bigquery_marts'}
TRIGGER_NAME = 'after a load'


def why_not_refreshed(manifest: Mapping[str, Any] | MonthManifest, variables: Mapping[str, Any]) -> str | None:
    """Why this load starts no refresh of its marts; None: it starts one."""
    loaded = MonthManifest.of(manifest)
    month = loaded.month
    if str(variables.get('refresh_marts', 'true')).strip().lower() in ('false', '0', 'no'):
        return 'the pipeline variable refresh_marts is false'
    if variables.get('pipeline_uuid') not in MARTS_AFTER:
        return f'{variables.get("pipeline_uuid")!r} has no marts to refresh'
    if month.raw:
        return 'a raw load: the marts read the cleaned tables'
    if month.service not in MART_SERVICES:
        return f'{month.service} has no marts'
    if loaded.unchanged:
        return 'the month was unchanged, so are its marts'
    if variables.get('pipeline_run_id') in (None, ''):
        return f'not a run of the server: run {MARTS_AFTER[variables["pipeline_uuid"]]} yourself'
    return None


def refresh_after_load(manifest: Mapping[str, Any], variables: Mapping[str, Any]) -> Manifest:
    """Start the marts run of the loaded month (not waiting for it); the manifest gains
    `marts_run_id` (None when none was started)."""
    loaded = MonthManifest.of(manifest)
    why_not = why_not_refreshed(loaded, variables)
    month = loaded.month
    if why_not:
        log.info('refresh_marts: %s: not refreshed: %s', month.label, why_not)
        return {**manifest, 'marts_run_id': None}
    from utils.mage_runs import start_run

    marts = MARTS_AFTER[variables['pipeline_uuid']]
    run_id = start_run(marts, {'service': month.service, 'year': month.year, 'month': month.month}, TRIGGER_NAME)
    log.info(
        'refresh_marts: %s: %s run %s refreshes its marts (trigger %r; it alerts itself if it fails)',
        month.label,
        marts,
        run_id,
        TRIGGER_NAME,
    )
    return {**manifest, 'marts_run_id': run_id}
