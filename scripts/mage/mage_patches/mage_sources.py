"""The Mage code the patches replace or wrap, as it was when they were written: the sha256 of each
function's source in mage-ai 0.9.80. apply() compares them before it patches anything and refuses
to start Mage when one differs (an upstream fix or change would otherwise be dropped, or wrapped
blindly); the quick tier compares them too (tests/scripts/test_mage_patches.py).

A difference means: read the new Mage function, compare it with the patch beside this file, keep
or drop the patch, then put the new hash here (`python -m scripts.mage.mage_patches.mage_sources`
prints them all).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from typing import Any

# 'module:qualified name' -> the first 16 hex digits of the sha256 of its source (mage-ai 0.9.80)
CHECKED: dict[str, str] = {
    # __init__.py: the process queue's three races, the scheduler's delays
    'mage_ai.orchestration.queue.process_queue:ProcessQueue.enqueue': 'd4bdadb93d7d59e1',
    'mage_ai.orchestration.queue.process_queue:poll_job_and_execute': '0be8f52d6d9b653b',
    'mage_ai.orchestration.queue.process_queue:ProcessQueue.has_job': '256fb39342e81a35',
    'mage_ai.orchestration.pipeline_scheduler_original:run_pipeline': '8feeeafa69d108a0',
    'mage_ai.orchestration.triggers.loop_time_trigger:LoopTimeTrigger.start': '1960125cfe8bd55a',
    'mage_ai.orchestration.db.models.schedules:PipelineRun.create': 'b8b76156e03d6795',
    'mage_ai.orchestration.db.models.schedules:PipelineSchedule.create': '7a8828f0ffd84ef0',
    # failures.py: a failed block says why first; dbt's lines at WARNING at most
    'mage_ai.data_preparation.models.block:Block.execute_block': '9e1d549f2816ac2b',
    'mage_ai.data_preparation.models.block.dbt.dbt_cli:DBTCli._DBTCli__log': '163895573078e751',
    # dashboards.py: the chart route
    'mage_ai.server.server:make_app': 'ead8f5377399d48d',
    # editor.py: pipeline files as committed, block statuses beside the outputs
    'mage_ai.data_preparation.models.pipeline:safe_write': 'e4811e4e7a9b1b90',
    'mage_ai.data_preparation.models.pipeline:safe_write_async': 'd3633901247ccb70',
    'mage_ai.data_preparation.models.pipeline:Pipeline.load_config': '806b4c27a3109908',
    # run_labels.py: runs that say what they load; Run@once switched off after a failure
    'mage_ai.orchestration.db.models.schedules:PipelineRun.pipeline_schedule_name': '8db40fd463a0012f',
    'mage_ai.orchestration.notification.sender:NotificationSender._NotificationSender__interpolate_vars': (
        'ac8d0069aa0af438'
    ),
    'mage_ai.orchestration.pipeline_scheduler_original:PipelineScheduler.on_pipeline_run_failure': ('40f45a5ef482f120'),
}


class MageCodeChanged(RuntimeError):
    """Mage's code is not the code a patch was written against."""


def mage_function(target: str) -> Any:
    """The function `module:Class.name` names, as defined (a classmethod's or property's function;
    the class's own attribute, not an inherited one)."""
    module, qualified = target.split(':')
    found: Any = importlib.import_module(module)
    parts = qualified.split('.')
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        found = found.__dict__[part] if last and isinstance(found, type) else getattr(found, part)
    if isinstance(found, (classmethod, staticmethod)):
        found = found.__func__
    if isinstance(found, property):
        found = found.fget
    return found


def source_hash(target: str) -> str:
    return hashlib.sha256(inspect.getsource(mage_function(target)).encode()).hexdigest()[:16]


def changed(checked: dict[str, str] = CHECKED) -> list[str]:
    """'<target>: <hash now>, not <hash checked>' for each function whose source differs (or that
    is gone), [] when all are the code the patches were written against."""
    found = []
    for target, expected in checked.items():
        try:
            now = source_hash(target)
        except (ImportError, AttributeError, KeyError, OSError, TypeError) as e:
            found.append(f'{target}: not found ({type(e).__name__}: {e})')
            continue
        if now != expected:
            found.append(f'{target}: {now}, not {expected}')
    return found


def check(checked: dict[str, str] = CHECKED) -> None:
    """Raise MageCodeChanged naming every function that is not the code it was checked as."""
    differ = changed(checked)
    if differ:
        raise MageCodeChanged(
            'mage-ai code that scripts/mage/mage_patches/ replaces or wraps is not the code it was written '
            'against, so Mage is not started: ' + '; '.join(differ) + '. Read each function against its patch, '
            'then update scripts/mage/mage_patches/mage_sources.py.'
        )


if __name__ == '__main__':
    for name in CHECKED:
        print(f"    '{name}': '{source_hash(name)}',")
