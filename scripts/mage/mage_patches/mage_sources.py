"""Each workaround of Mage the server applies (WORKAROUNDS: what Mage's own code does, the test that
shows it still does, what would let it go), and the Mage code it replaces or wraps, as it was
when it was written: the sha256 of each function's source in mage-ai 0.9.80. apply() compares
them before it patches anything and refuses to start Mage when one differs (an upstream fix or
change would otherwise be dropped, or wrapped blindly); the quick tier compares them too
(tests/scripts/test_mage_patches.py).

A difference means: read the new Mage function, compare it with the patch beside this file, keep
or drop the patch, then put the new hash here (`python -m scripts.mage.mage_patches.mage_sources`
prints them all).
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Literal

T = 'tests/scripts/test_mage_patches.py::'
S = 'tests/scripts/test_mage_still_does.py::'


@dataclass(frozen=True)
class Workaround:
    """One thing the server changes in Mage, and why it may.

    kind: 'bug' (Mage does the wrong thing), 'delay' (Mage does the right thing, seconds late) or
    'gap' (Mage lacks it; kept because the course's users asked for it, see `why`).
    functions: 'module:qualified name' of each Mage function replaced or wrapped (or, where another
    workaround checks that one already, the Mage code the race is between) -> the first 16 hex
    digits of the sha256 of its source in mage-ai 0.9.80.
    mage_does: what Mage 0.9.80's own code does, which `shown_by` (a test that runs Mage's own
    code) shows it still does. goes_when: what would let the workaround go; when that test fails
    on a new mage-ai, Mage has changed: read the function again and drop the workaround if it is
    fixed.
    """

    name: str
    kind: Literal['bug', 'delay', 'gap']
    functions: dict[str, str]
    mage_does: str
    shown_by: str
    goes_when: str
    why: str = ''


WORKAROUNDS: tuple[Workaround, ...] = (
    Workaround(
        'record, then put',
        'bug',
        {'mage_ai.orchestration.queue.process_queue:ProcessQueue.enqueue': 'd4bdadb93d7d59e1'},
        'ProcessQueue.enqueue puts a job on the queue before it records it as QUEUED: a polling Worker '
        "that takes it in between fails with KeyError: 'pipeline_run_N' and drops it (the run stays running).",
        T + 'test_enqueue_records_the_job_before_it_is_on_the_queue',
        'Mage records the job in job_dict before queue.put (a one-line swap in enqueue).',
    ),
    Workaround(
        'a pool that waits for its job',
        'bug',
        {'mage_ai.orchestration.queue.process_queue:poll_job_and_execute': '0be8f52d6d9b653b'},
        'The worker pool exits as soon as it has no Worker and the queue looks empty, which an mp.Queue '
        'does for a moment after a put: the job is left queued with no pool, and the scheduler never '
        'enqueues it again. It also starts a second Worker for one job, which then waits forever.',
        T + 'test_mages_pool_leaves_a_job_that_arrives_late_the_fixed_pool_runs_it',
        "Mage's pool stays until the queue has stayed empty for a while, one Worker per job.",
    ),
    Workaround(
        'a queued job exists',
        'bug',
        {'mage_ai.orchestration.queue.process_queue:ProcessQueue.has_job': '256fb39342e81a35'},
        'ProcessQueue.has_job counts a QUEUED job only while the queue looks non-empty: between a '
        'Worker\'s queue.get() and its pid in job_dict the job "does not exist", so the scheduler starts '
        'the run a second time (two dbt builds at once: relation "dim_zones" already exists) or '
        'clean_up_jobs drops it.',
        T + 'test_a_job_a_worker_took_and_has_not_yet_marked_still_exists',
        "Mage's has_job answers True for a QUEUED job.",
    ),
    Workaround(
        'a finished run wakes the scheduler',
        'delay',
        {
            'mage_ai.orchestration.pipeline_scheduler_original:run_pipeline': '8feeeafa69d108a0',
            'mage_ai.orchestration.triggers.loop_time_trigger:LoopTimeTrigger.start': '1960125cfe8bd55a',
        },
        'With run_pipeline_in_one_process (every pipeline here: make bench-runs), nothing tells the '
        'scheduler a run ended (its worker does so after each block only when each block is a job); its '
        'loop sleeps out SCHEDULER_TRIGGER_INTERVAL whatever happens, so a run is marked done one tick '
        "late and the run waiting for its slot (a backfill's next month) starts a tick after that.",
        S + 'test_mages_scheduler_loop_sleeps_out_its_interval_whatever_happens',
        "Mage's one-process executor calls the scheduler when a run ends, as its block jobs do.",
        'make bench-backfill, one month at a time: 7.4 s a month before it, 2.9 s with it (docs/benchmarks.md). '
        "The same patched loop imports the runs' packages once (PRELOADED_MODULES) before its first tick.",
    ),
    Workaround(
        'a new run wakes the scheduler',
        'delay',
        {
            'mage_ai.orchestration.db.models.schedules:PipelineRun.create': 'b8b76156e03d6795',
            'mage_ai.orchestration.db.models.schedules:PipelineSchedule.create': '7a8828f0ffd84ef0',
        },
        "A run made in the server (the API trigger, Run@once, a backfill) waits for the scheduler's next "
        'tick to start, up to SCHEDULER_TRIGGER_INTERVAL (same loop as above).',
        S + 'test_mages_scheduler_loop_sleeps_out_its_interval_whatever_happens',
        "Mage's server hands a new run to its scheduler at once.",
        'make bench-runs: api_to_postgres through the API trigger, created to started, 2.2 s as Mage comes, '
        '0.5 s with it and the preload (docs/benchmarks.md).',
    ),
    Workaround(
        "a run's block runs made once",
        'bug',
        {  # PipelineRun.create itself is wrapped and checked by 'a new run wakes the scheduler'
            'mage_ai.orchestration.db.models.schedules:PipelineRun.create_block_runs': 'b1314f8cbb0aac0c',
            'mage_ai.orchestration.pipeline_scheduler_original:PipelineScheduler.start': '7d69ac41000030da',
        },
        'PipelineRun.create commits the new run, then each of its block runs: a scheduler tick in between '
        "finds the run initial with none, and PipelineScheduler.start (its lock is its own process's) makes "
        'a set too. Seen here: run 35 with two block runs of each of its 7 blocks, the month loaded twice, '
        "one export failed and the other cancelled (test_recovery.py's first test, 1 of 12 repeats beside the "
        'whole suite).',
        S + 'test_mages_new_run_gets_a_second_set_of_block_runs_from_a_tick_the_patched_one_set',
        "Mage commits a run with its block runs (or the scheduler's start leaves a run it did not make alone).",
    ),
    Workaround(
        'block runs as stored',
        'bug',
        {'mage_ai.api.resources.BlockRunResource:BlockRunResource.collection': '55fc2fc24ee148db'},
        "The web server's one database session is never ended, and a run's block runs are read as the "
        'objects it already holds, with the values it first read: GET pipeline_runs/<id>/block_runs said a '
        "sensor was 'initial' for 43 s (once more than 300 s) while Mage's database said 'running'. Mage "
        'expires in-progress pipeline runs in PipelineRunResource.collection, not block runs.',
        S + 'test_mages_block_runs_of_a_run_keep_the_status_first_read_the_patched_the_stored',
        "Mage's BlockRunResource refreshes (or expires) the block runs it lists, as its PipelineRunResource does.",
    ),
    Workaround(
        'dashboard charts get their data',
        'bug',
        {'mage_ai.server.server:make_app': 'ead8f5377399d48d'},
        'make_app routes every /api/page_block_layouts/<uuid>/... request to the layout itself (its '
        '".+" route comes before the child routes), so no dashboard chart gets its data: '
        '"Chart hasn\'t been configured or no data was retrieved" on every pipeline\'s Dashboard.',
        S + 'test_mages_routes_send_a_chart_request_to_its_layout_the_patched_to_the_chart',
        "Mage's make_app puts the block_layout_items route before the encoded-id one.",
    ),
    Workaround(
        'a failed block says why first',
        'gap',
        {
            'mage_ai.data_preparation.models.block:Block.execute_block': '9e1d549f2816ac2b',
            'mage_ai.data_preparation.models.block.dbt.dbt_cli:DBTCli._DBTCli__log': '163895573078e751',
        },
        'A failed block\'s first ERROR records are Mage\'s "Exception thrown when attempting to run" and '
        "its traceback (dbt's own lines, logged at ERROR, before them); the UI's first red row is cut "
        'before the reason. An @on_failure callback gets the error only after the retries and after '
        'that traceback, so it cannot put the reason first.',
        S + 'test_mages_failed_block_logs_nothing_of_its_reason_and_dbts_errors_at_error',
        "Mage logs a block's exception message before its traceback, and dbt's own lines at their level.",
        'the reason (which month, which row or dbt model) is what a course user reads first (issue 35).',
    ),
    Workaround(
        'pipeline files as committed',
        'bug',
        {
            'mage_ai.data_preparation.models.pipeline:safe_write': 'e4811e4e7a9b1b90',
            'mage_ai.data_preparation.models.pipeline:safe_write_async': 'd3633901247ccb70',
            'mage_ai.data_preparation.models.pipeline:Pipeline.load_config': '806b4c27a3109908',
        },
        "Pipeline.save writes each block's status and this machine's variables_dir path into the "
        'committed pipelines/*/metadata.yaml at every block run: git status is never clean and a '
        'machine path lands in a tracked file.',
        'tests/scripts/test_pipeline_files.py::test_mage_s_own_save_writes_the_committed_files_back',
        'Mage keeps block statuses and machine paths out of metadata.yaml.',
    ),
    Workaround(
        'settings that are not secrets shown',
        'gap',
        {'mage_ai.shared.security:filter_out_env_var_values': '45de4ae7a19ad4c1'},
        "The editor's output hides every value of the server's environment 8 characters or longer, secret "
        "or not: a loader's line with the mirror's URL reads **********************/yellow/... and the "
        "bucket's name is stars. Its own list of values to show (WHITELISTED_ENV_VARS) is a fixed set.",
        S + 'test_mages_editor_output_hides_the_mirrors_url_the_patched_only_secrets',
        'Mage lets a project name the settings its editor may show.',
        'the course prints URLs and bucket names to see what a block does (issue 35); HIDE_ENV_VAR_VALUES=0, '
        "Mage's own switch, would show the passwords too.",
    ),
    Workaround(
        'runs that say what they load',
        'gap',
        {
            'mage_ai.orchestration.db.models.schedules:PipelineRun.pipeline_schedule_name': '8db40fd463a0012f',
            'mage_ai.orchestration.notification.sender:NotificationSender._NotificationSender__interpolate_vars': (
                'ac8d0069aa0af438'
            ),
            'mage_ai.api.resources.BlockRunResource:BlockRunResource.build_result_set': '674b1e64ad23107f',
        },
        "A run has no name: the run lists, a run's own page (its block runs' Trigger column) and alerts "
        'show its trigger, so every run of the API trigger reads api_to_postgres_on_demand, whatever month '
        'it loads.',
        S + 'test_mages_runs_say_only_their_trigger_and_leave_a_failed_run_at_once_active',
        'Mage gives a run a name of its own (its variables, or a template).',
        "which month a run loads is the first question of the course's homework and backfills (issue 35).",
    ),
    Workaround(
        'a failed Run@once trigger switched off',
        'bug',
        {
            'mage_ai.orchestration.pipeline_scheduler_original:PipelineScheduler.on_pipeline_run_failure': (
                'bf7c284f9a29c3fd'
            ),
        },
        'A Run@once trigger is switched off when its run completes, not when it fails: each failed '
        'Run@once leaves an active trigger with a random name behind.',
        S + 'test_mages_runs_say_only_their_trigger_and_leave_a_failed_run_at_once_active',
        "Mage's on_pipeline_run_failure switches a @once trigger off, as its completion does.",
    ),
)

# 'module:qualified name' -> the first 16 hex digits of the sha256 of its source (mage-ai 0.9.80)
CHECKED: dict[str, str] = {name: digest for w in WORKAROUNDS for name, digest in w.functions.items()}


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
    return unwrapped(found)


def unwrapped(function: Any) -> Any:
    """The function a decorator wraps: through functools.wraps' __wrapped__, and through a closure
    that holds it as `func` without it (Mage's safe_db_query), so that the function's own source is
    hashed, not the decorator's."""
    while True:
        function = inspect.unwrap(function)
        code = getattr(function, '__code__', None)
        cells = dict(zip(code.co_freevars, function.__closure__ or (), strict=True)) if code else {}
        inner = cells['func'].cell_contents if 'func' in cells else None
        if not inspect.isfunction(inner):
            return function
        function = inner


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
