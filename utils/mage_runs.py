"""The one module of utils/ that reaches into Mage's internals (scripts/dev/check_layers.py holds
everything else to it): what Mage's database says about a run, the error a failed block leaves
for Mage's alert, and a run started through Mage's own trigger_pipeline. Each import of Mage is
inside its function: the blocks' code imports without Mage (the tests, `mage run`'s first import).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunRecord:
    """What Mage's database holds about a pipeline run, as utils/ reads it."""

    run_id: int
    status: str
    backfill_id: int | None
    schedule_type: str | None  # 'time', 'api', ...
    schedule_interval: str | None  # '@once', '@monthly', a cron expression


def run_record(run_id: int) -> RunRecord:
    """Mage's run `run_id`; LookupError when its database has none."""
    from mage_ai.orchestration.db.models.schedules import PipelineRun

    run = PipelineRun.query.get(int(run_id))
    if run is None:
        raise LookupError(f'Mage has no pipeline run {run_id} in its database')
    schedule = run.pipeline_schedule

    def text(value: Any) -> str | None:
        return None if value is None else str(getattr(value, 'value', value))

    return RunRecord(
        int(run_id),
        text(run.status) or '',
        run.backfill_id,
        text(getattr(schedule, 'schedule_type', None)),
        text(getattr(schedule, 'schedule_interval', None)),
    )


def record_block_error(run_id: int, block_uuid: str, error_name: str, message: str) -> None:
    """Put a failed block's error on its block run, where Mage's failure alert reads it (Mage
    0.9.80 records it there itself only for a block that runs in a process of its own)."""
    from mage_ai.orchestration.db.models.schedules import BlockRun

    block_run = BlockRun.query.filter(
        BlockRun.pipeline_run_id == int(run_id), BlockRun.block_uuid == block_uuid
    ).first()
    if block_run is not None:
        metrics = dict(block_run.metrics or {})
        metrics['error'] = {'error': error_name, 'message': message}
        block_run.update(metrics=metrics)


def start_run(pipeline_uuid: str, variables: dict[str, Any], trigger_name: str) -> int:
    """A run of `pipeline_uuid` under the API trigger `trigger_name` (made if missing), through
    Mage's own trigger_pipeline; its id. It is not waited for."""
    from mage_ai.orchestration.triggers.api import trigger_pipeline

    return int(trigger_pipeline(pipeline_uuid, variables=variables, schedule_name=trigger_name, verbose=False).id)
