"""Runs that say what they load, in mage-ai 0.9.80 (applied by scripts/mage/mage_patches's apply()).

Mage has no run name: its run lists (a pipeline's Runs, a backfill's page) and a run's own page
(its block runs' Trigger column) show each run's trigger, and every on-demand run reads
`api_to_postgres_on_demand`. So the trigger's name a run shows, in those lists and pages (the
API's `pipeline_schedule_name`) and in its alerts, is followed by what
the run loads: `api_to_postgres_on_demand · yellow 2021-01`, `Backfill green 2020-09..2020-11 ·
green 2020-10`. The month is the one the run loads (utils/steps/run_month.py: a backfill's or a
schedule's from its date, otherwise its variables, with the pipeline's defaults under them). The
trigger itself keeps its name.

And a Run@once trigger (the UI's Triggers > Run@once) is switched off when its run ends, failed
too: Mage switches it off only when its run completed, so each failed Run@once left an active
trigger behind, with a random name.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import yaml

from utils.steps.run_month import label_of_run, started_by_of

SEPARATOR = ' · '


@functools.lru_cache(maxsize=64)
def _defaults(metadata: Path, modified: float) -> dict[str, Any]:
    return (yaml.safe_load(metadata.read_text()) or {}).get('variables') or {}


def pipeline_defaults(pipeline_uuid: str) -> dict[str, Any]:
    """The pipeline's default variables (its metadata.yaml, read again when it changes)."""
    from mage_ai.settings.repo import get_repo_path

    metadata = Path(get_repo_path()) / 'pipelines' / pipeline_uuid / 'metadata.yaml'
    try:
        return _defaults(metadata, os.stat(metadata).st_mtime)
    except OSError:
        return {}


def run_label(run) -> str:
    """What Mage's run `run` loads ('' when it names no service)."""
    schedule = run.pipeline_schedule
    variables = {**pipeline_defaults(run.pipeline_uuid), **(run.variables or {})}
    started_by = started_by_of(
        run.backfill_id, getattr(schedule, 'schedule_type', None), getattr(schedule, 'schedule_interval', None)
    )
    try:
        return label_of_run(variables, run.execution_date, started_by)
    except Exception:  # noqa: BLE001 - a label is never worth a failed page or alert
        return ''


def labelled(name: str, run) -> str:
    label = run_label(run)
    return f'{name}{SEPARATOR}{label}' if label else name


def schedule_name_with_label(self) -> str:
    """PipelineRun.pipeline_schedule_name: the trigger's name, then what the run loads."""
    return labelled(self.pipeline_schedule.name, self)


def interpolate_with_label(self, text, pipeline, pipeline_run, *args, **kwargs):
    """The alert's text, with the trigger named as the run lists name it."""
    text = _mages_interpolate(self, text, pipeline, pipeline_run, *args, **kwargs)
    if text and pipeline_run is not None and pipeline_run.pipeline_schedule is not None:
        name = pipeline_run.pipeline_schedule.name
        text = text.replace(f'`{name}`', f'`{labelled(name, pipeline_run)}`')
    return text


def block_runs_with_label(cls, arr, user, **kwargs):
    """BlockRunResource.build_result_set: the run page's block runs, whose Trigger column then says
    what their run loads too (one look-up of each run)."""
    from mage_ai.orchestration.db.models.schedules import PipelineRun

    result = _mages_block_runs(cls, arr, user, **kwargs)
    runs: dict[Any, Any] = {}
    for resource in result:
        block_run = getattr(resource, 'model', None)
        if not isinstance(block_run, dict) or not block_run.get('pipeline_schedule_name'):
            continue
        run_id = block_run.get('pipeline_run_id')
        if run_id not in runs:
            try:
                runs[run_id] = PipelineRun.query.get(run_id) if run_id is not None else None
            except Exception:  # noqa: BLE001 - a label is never worth a failed page: Mage's name stays
                runs[run_id] = None
        if runs[run_id] is not None:
            block_run['pipeline_schedule_name'] = labelled(block_run['pipeline_schedule_name'], runs[run_id])
    return result


def switch_off_once_trigger_after_failure(self, *args, **kwargs):
    """Mage's on_pipeline_run_failure, then the run's Run@once trigger switched off."""
    from mage_ai.orchestration.db.models.schedules import ScheduleStatus

    _mages_on_failure(self, *args, **kwargs)
    schedule = self.pipeline_schedule
    if (
        schedule is not None
        and schedule.schedule_type == 'time'
        and schedule.schedule_interval == '@once'
        and schedule.status == ScheduleStatus.ACTIVE
    ):
        schedule.update(status=ScheduleStatus.INACTIVE)


_mages_interpolate: Any = None  # Mage's own, kept by apply()
_mages_on_failure: Any = None
_mages_block_runs: Any = None


def apply() -> None:
    from mage_ai.api.resources.BlockRunResource import BlockRunResource
    from mage_ai.orchestration import pipeline_scheduler_original
    from mage_ai.orchestration.db.models.schedules import PipelineRun
    from mage_ai.orchestration.notification.sender import NotificationSender

    global _mages_interpolate, _mages_on_failure, _mages_block_runs
    PipelineRun.pipeline_schedule_name = property(schedule_name_with_label)
    _mages_block_runs = BlockRunResource.__dict__['build_result_set'].__func__
    BlockRunResource.build_result_set = classmethod(block_runs_with_label)
    _mages_interpolate = NotificationSender._NotificationSender__interpolate_vars
    NotificationSender._NotificationSender__interpolate_vars = interpolate_with_label
    scheduler = pipeline_scheduler_original.PipelineScheduler
    _mages_on_failure = scheduler.on_pipeline_run_failure
    scheduler.on_pipeline_run_failure = switch_off_once_trigger_after_failure
