"""What a failed run's alert says about the failure.

Alerts are Mage's own (notification_config in metadata.yaml): the failure message's
{stacktrace} is the failed block run's `metrics['error']['message']` in Mage's database. Mage
0.9.80 records that only for a block that runs in a process of its own; these pipelines run all
their blocks in one process (`run_pipeline_in_one_process`), where it records nothing and the
alert would say only which block failed. So utils/steps/failures.py, which the server calls for
every failed block, records it there once: `<block> failed: <why>`, the why naming the service,
the month and the work files.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)


def record_block_error(run: Mapping[str, Any], error: BaseException, line: str) -> None:
    """Put `line` (the one utils/steps/failures.py logs first) and the error's type on the block run
    Mage alerts from; nothing outside a server-triggered run."""
    run_id, block_uuid = run.get('pipeline_run_id'), run.get('block_uuid')
    if run_id is None or not block_uuid:
        return
    try:
        from utils.mage_runs import record_block_error as record_in_mage

        record_in_mage(int(run_id), block_uuid, type(error).__name__, line)
    except Exception as e:  # noqa: BLE001 - the alert then says less; the run's own error stands
        log.warning('could not record the error of %s for the alert: %s: %s', block_uuid, type(e).__name__, e)
