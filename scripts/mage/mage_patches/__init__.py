"""What reaches into mage-ai 0.9.80's internals: races in its local process queue that leave a
triggered run "running" forever or run it twice at once, and one delay of its scheduler, fixed here;
scripts/mage/start_mage.py applies them in the server process before Mage starts (its scheduler and
worker pools are forked from it, so they run the fixed code).

Both were seen on this project's 2-core machine under load (`make up` hung, mage.log):

1. ProcessQueue.enqueue puts the job on the queue, THEN records it as QUEUED in the shared job
   dict. A worker pool that is already polling can take the job in between; its Worker reads
   the dict, fails with `KeyError: 'pipeline_run_1'` and drops the job. Fixed: record, then put.
2. poll_job_and_execute (the worker pool) exits as soon as it has no worker and the queue looks
   empty. An mp.Queue hands items over through a feeder thread, so a pool started right after a
   put can look before the item arrives, exit, and leave the job queued with no pool to run
   it; the scheduler then believes it is pending and never enqueues it again. Fixed: the pool
   exits only after the queue stayed empty, with no worker, for IDLE_SECONDS. The pool also
   starts Workers while the queue still looks non-empty, so a job that was just put gets two:
   one runs it, the other waits in queue.get() for good (for the next job). Fixed: one Worker
   per poll (every 0.2 s), by when the one before has taken its job.

2b. ProcessQueue.has_job counts a QUEUED job only while the queue looks non-empty. A Worker
   takes the job off the queue, THEN records its pid in the job dict; in between the job is
   QUEUED with an empty queue, and has_job says it does not exist. The scheduler's tick then
   (a) starts the run again ("Start a process for PipelineRun 2" twice in mage.log: two processes
   ran the same run's dbt block at once, one failing with `relation "dim_zones" already exists`),
   or (b) its clean_up_jobs deletes the entry, possibly just after the Worker wrote its pid, which
   has the same effect at the next tick. Seen here in 1 of 14 `make up`s under load (mage.log
   kept), and by its symptom in a full test run. Fixed: a QUEUED job exists (has_job below); it
   is on the queue, or a Worker has it and is recording its pid.

And two delays, shortened the way Mage itself does it in its other executor mode:

3. With `run_pipeline_in_one_process` (our pipelines), a run whose blocks are done is marked
   completed (or failed) only by the scheduler's next tick, and the run waiting for its slot
   (a backfill's next month) starts only on the tick after that: up to two
   SCHEDULER_TRIGGER_INTERVALs per run during which that slot does nothing. (When each block is
   its own job, Mage's worker calls the scheduler itself as each block finishes.) Fixed: the
   worker tells the scheduler when it finished a run; the scheduler then ticks at once (Mage's
   own code marks the run done and sends the alert, as always) and once more, which starts the
   run waiting for the freed slot. Same ticks, same code, only sooner; between runs the
   scheduler still ticks every SCHEDULER_TRIGGER_INTERVAL. `make bench-backfill` measures it.
4. A run made in the server (the API trigger, a backfill started in the UI, a trigger created
   there, e.g. Run@once) waits for the scheduler's next tick to start: up to one
   SCHEDULER_TRIGGER_INTERVAL (10 s) doing nothing. Fixed: the server wakes the scheduler when
   it has created (and committed) a pipeline run or a trigger; the same two ticks as in 3.
   `make bench-runs` measures it.

And the imports every run needs, done once: the scheduler process imports dbt, its adapters,
pyarrow and the Google clients (PRELOADED_MODULES) before its first tick, while the web server
starts beside it; each run's process is forked from it (by the worker pool it forks), so a run
starts with them loaded instead of importing them again (dbt's BigQuery adapter alone: 13.6 s in
a fresh process). `make bench-runs` measures it.

Only for the pinned version, and only for the very code they were written against: before it
patches anything, apply() compares the source of every Mage function a patch replaces or wraps
with its hash in mage_sources.py and refuses to start Mage when one differs (MageCodeChanged). (Another
mage-ai version is refused before this, by scripts/mage/mage_version.py; ALLOW_MAGE_VERSION
starts it unpatched.)

They reach the scheduler and its worker pools by fork: both are forked from this server process,
and inherit the patched functions. A process started another way (multiprocessing's spawn, which
Mage's KERNEL_MAGIC selects, or Python 3.14's forkserver default) would import Mage afresh and run
it unpatched, without a word. So it is detected, not assumed: the patched scheduler loop says it
runs (SCHEDULER_PATCHED), and the server stops, naming the start method, when it has not within
SCHEDULER_START_SECONDS (watch_the_scheduler).

And a run made once (block_runs_once.py): Mage's PipelineRun.create commits a new run before its
block runs, and a scheduler tick in between made a second set of them (its start() makes block
runs for a run that has none): the run loaded its month twice. The run and its block runs are now
committed together.

And a run's block runs as Mage's database holds them (fresh_block_runs.py): the web server's one
database session answered a run page's block list with the statuses it first read, e.g. a block
`initial` that the database had as `running` for 43 s.

And one route: Mage 0.9.80 sends every /api/page_block_layouts/<uuid>/... request to the
layout itself (its "encoded resource ID" route, `.+`, comes before the child routes), so a
dashboard's chart never gets its data ("Chart hasn't been configured or no data was
retrieved"): every pipeline's Dashboard is empty. Fixed: the chart route
(.../block_layout_items/<chart>) goes in front of it (make_app_with_dashboard_route).

And a failed block says why first: Block.execute_block, on an exception, hands it to
utils/steps/failures.py (the reason as the block's first ERROR log record, on the alert, in load_audit)
before Mage's retry logs "Exception thrown when attempting to run <function …>" and its
traceback (execute_block_saying_why). dbt's own lines reach a run's log at WARNING at most
(dbt_log_at_most_warning), so a dbt block's first ERROR record is that reason too: which test or
model failed and what dbt said, read from its run_results.json.

And the editor leaves git status clean and still runs blocks one at a time (editor.py): what
Pipeline.save writes to pipelines/*/metadata.yaml goes through scripts/mage/pipeline_files.py's
as_committed (no block status, no machine path), the statuses into Mage's data folder beside the
blocks' outputs, and Pipeline.load_config lays them back over the committed file. Its output
shows the settings that name public things (the mirror's URL, the bucket), which Mage hides with
every other value of the environment.

With ENABLE_PROMETHEUS on, Mage's /metrics shows only its HTTP server's requests; apply() adds
the pipeline runs by pipeline and status (RunCounts), read from Mage's database at each scrape.

And runs that say what they load (run_labels.py, beside this file): the trigger name a run shows in
the run lists and alerts is followed by the service and month it loads, and a Run@once trigger is
switched off when its run ends, failed too.

And one look into Mage's user table (users_with_password): before the UI is exposed,
scripts/mage/start_mage.py asks whether a user of the project's database still logs in with Mage's
well-known default password, checked the way Mage checks a login.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from typing import Any

import psutil

from . import block_runs_once, dashboards, failures, fresh_block_runs, mage_sources, run_labels
from .editor import show_settings_that_are_not_secrets, write_pipeline_files_as_committed
from .metrics import RunCounts, prometheus_enabled
from .users import users_with_password  # noqa: F401 - scripts/mage/start_mage.py calls it

try:
    from mage_version import CHECKED_MAGE_VERSION as PATCHED_VERSION  # scripts/mage/ on sys.path (the server)
except ImportError:  # imported as scripts.mage.mage_patches (the tests)
    from scripts.mage.mage_version import CHECKED_MAGE_VERSION as PATCHED_VERSION
IDLE_SECONDS = 3
MARKER = 'recorded before the put'
WOKEN = 'a run finished or was created: the scheduler ticks now'

# Third-party packages only: the project's own utils/ is imported by each run afresh, so an edit
# made in the editor counts at the next run. PRELOAD_IMPORTS=0 turns it off (make bench-runs).
PRELOADED_MODULES = (
    'pandas',
    'pyarrow.csv',
    'pyarrow.dataset',
    'pyarrow.parquet',
    'psycopg2',
    'requests',
    'google.cloud.storage',
    'google.cloud.bigquery',
    'dbt.cli.main',
    'dbt.adapters.postgres',
    'dbt.adapters.bigquery',
)

# Set by a worker when it finished a run, and by the server when it created a run or a trigger;
# made by apply() in the server, before Mage forks its scheduler and (from that) the worker
# pools, so all of them share it.
WAKE_SCHEDULER: Any = None  # a multiprocessing Event, made by apply()
SCHEDULER_PATCHED: Any = None  # set by the patched scheduler loop: it was forked from this server
SCHEDULER_PID: Any = None  # the pid of the process running the patched loop (a shared Value)
SCHEDULER_START_SECONDS = 300  # Mage starts its scheduler at once; its first tick preloads ~15 s of imports
SERVER_PID: int | None = None  # the process apply() ran in: Mage's web server
# Mage's own functions, kept by apply() before it puts the patched ones in their place
_mages_run_pipeline: Any = None


def enqueue(self, job_id: str, target, *args, **kwargs) -> None:
    """ProcessQueue.enqueue of 0.9.80 with the job recorded as QUEUED before it is put."""
    from mage_ai.orchestration.queue.process_queue import LIVENESS_TIMEOUT_SECONDS, JobStatus, QueueStatus

    if self.status != QueueStatus.ACTIVE:
        self._print('Cannot enqueue a job to an inactive queue.')
        return
    if self.has_job(job_id):
        self._print(f'Job {job_id} exists. Skip enqueue.')
        return
    self._print(f'Enqueue job {job_id} ({MARKER})')
    if self.redis_client:
        self.redis_client.set(job_id, self.client_id)
        self.redis_client.set(self.client_id, '1', ex=LIVENESS_TIMEOUT_SECONDS)
    self.job_dict[job_id] = JobStatus.QUEUED
    self.queue.put([job_id, target, args, kwargs])
    if not self.is_worker_pool_alive():
        self.start_worker_pool()


def has_job(self, job_id: str, logger=None, logging_tags: dict | None = None) -> bool:
    """ProcessQueue.has_job of 0.9.80, a QUEUED job counted whether or not the queue looks empty
    (2b above): one a Worker took off the queue and is recording its pid is not a lost job."""
    from mage_ai.orchestration.queue.process_queue import JobStatus

    if self.redis_client:
        job_client_id = self.redis_client.get(job_id)
        if not job_client_id:
            return False
        if job_client_id != self.client_id and self.redis_client.get(job_client_id):
            return True
    job = self.job_dict.get(job_id)
    if job is None:
        return False
    if job == JobStatus.QUEUED:
        return True
    if isinstance(job, int):
        if psutil.pid_exists(job):
            return True
        if logger is not None:
            logger.info(f'Process {job} is dead for job {job_id}', **(logging_tags or {}))
        return False
    return False


def poll_job_and_execute(
    queue, size: int, job_dict, redis_client, client_id: str, idle_seconds: float = IDLE_SECONDS
) -> None:
    """The worker pool of 0.9.80, leaving only once the queue stayed empty for idle_seconds."""
    from mage_ai.orchestration.queue.process_queue import LIVENESS_TIMEOUT_SECONDS, Worker

    workers: list[Any] = []
    idle_since = None
    while True:
        workers = [w for w in workers if w.is_alive()]
        if not workers and queue.empty():
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= idle_seconds:
                break
        else:
            idle_since = None
        if not queue.empty() and len(workers) < size:  # one per poll: see 2. above
            worker = Worker(queue, job_dict)
            worker.start()
            workers.append(worker)
        time.sleep(0.2)
        if redis_client and client_id:
            redis_client.set(client_id, '1', ex=LIVENESS_TIMEOUT_SECONDS)


def run_pipeline(*args, **kwargs):
    """Mage's run_pipeline (a whole run, in a worker process), then a wake-up for the scheduler,
    whether the run succeeded or failed."""
    try:
        return _mages_run_pipeline(*args, **kwargs)
    finally:
        if WAKE_SCHEDULER is not None:  # None only in a process not forked from a patched server
            WAKE_SCHEDULER.set()


def switched_off(setting: str) -> bool:
    return str(os.environ.get(setting, '1')).strip().lower() in ('0', 'false', 'no', 'off')


def preload_imports() -> list[str]:
    """Import PRELOADED_MODULES (unless PRELOAD_IMPORTS=0); returns those imported. One that is
    not installed is left to the run that needs it, which then fails naming it."""
    if switched_off('PRELOAD_IMPORTS'):
        return []
    import importlib

    loaded = []
    for name in PRELOADED_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as e:
            print(f'[mage_patches] not preloaded: {name} ({e})', file=sys.stderr, flush=True)
        else:
            loaded.append(name)
    return loaded


def scheduler_loop(self) -> None:
    """LoopTimeTrigger.start of 0.9.80 (a tick every trigger_interval seconds), woken early when a
    worker finished a run (one tick then marks the run done, the next starts a waiting run) or
    the server created one (the first tick starts it). First, the runs' imports (preload_imports)."""
    say_the_scheduler_is_patched()
    started = time.monotonic()
    if loaded := preload_imports():
        print(
            f'[mage_patches] the scheduler preloaded {len(loaded)} packages for every run in '
            f'{time.monotonic() - started:.1f} s (dbt and its adapters, pyarrow, the Google clients)',
            flush=True,
        )
    while True:
        started = time.monotonic()
        self.run()
        if WAKE_SCHEDULER.wait(max(0.0, self.trigger_interval - (time.monotonic() - started))):
            WAKE_SCHEDULER.clear()  # before the tick: a run that finishes during it wakes the next wait
            print(f'[mage_patches] {WOKEN}', flush=True)
            self.run()


def wake_on_create(model) -> None:
    """`model.create` (a classmethod of Mage's PipelineRun or PipelineSchedule) wakes the
    scheduler once the new row is committed, when it runs in the server (the scheduler makes
    runs too: it needs no waking by itself)."""
    mages = model.__dict__['create'].__func__

    def create(cls, *args, **kwargs):
        made = mages(cls, *args, **kwargs)
        if os.getpid() == SERVER_PID and kwargs.get('commit', True) and WAKE_SCHEDULER is not None:
            WAKE_SCHEDULER.set()
        return made

    model.create = classmethod(create)


def say_the_scheduler_is_patched() -> None:
    """Set SCHEDULER_PATCHED: this process runs the patched loop, so it was forked from the patched
    server (a process spawned afresh has no SCHEDULER_PATCHED: it imported this module anew)."""
    if SCHEDULER_PATCHED is not None:
        SCHEDULER_PID.value = os.getpid()
        SCHEDULER_PATCHED.set()


def scheduler_not_patched(patched, timeout: float, start_method: str | None) -> str | None:
    """Why the scheduler is not running the patched code, when `patched` (SCHEDULER_PATCHED) was
    not set within `timeout` seconds; None when it was."""
    if patched.wait(timeout):
        return None
    return (
        f'the scheduler has not run the patched loop {timeout:g} s after the server started: it was not forked '
        f'from the patched server (multiprocessing start method {start_method!r}; KERNEL_MAGIC='
        f'{os.environ.get("KERNEL_MAGIC", "")!r}), so it would run mage-ai unpatched. The patches need fork '
        '(scripts/mage/mage_patches/__init__.py): Mage is stopped.'
    )


def watch_the_scheduler(timeout: float = SCHEDULER_START_SECONDS, every: float = 30) -> None:
    """In the server: stop it (exit 3) when its scheduler does not run the patched loop within
    `timeout` seconds of its start, the first one's and each that Mage starts again later (its
    auto-restart of a scheduler that died): Mage's scheduler pid, checked every `every` seconds,
    must become the pid the patched loop wrote."""
    import threading

    from mage_ai.server.scheduler_manager import scheduler_manager

    def refuse(why: str) -> None:
        print(f'[mage_patches] refused: {why}', file=sys.stderr, flush=True)
        os._exit(3)

    def watch() -> None:
        method = multiprocessing.get_start_method(allow_none=True)
        if why := scheduler_not_patched(SCHEDULER_PATCHED, timeout, method):
            refuse(why)
        print(f'[mage_patches] the scheduler (pid {SCHEDULER_PID.value}) runs the patched loop', flush=True)
        while True:
            time.sleep(every)
            mages = scheduler_manager.get_scheduler_pid()
            if mages is None or mages == SCHEDULER_PID.value:
                continue
            SCHEDULER_PATCHED.clear()  # a scheduler Mage started again: it must say so too
            if SCHEDULER_PID.value != mages and (
                why := scheduler_not_patched(
                    SCHEDULER_PATCHED, timeout, multiprocessing.get_start_method(allow_none=True)
                )
            ):
                refuse(f'(restarted, pid {mages}) {why}')

    threading.Thread(target=watch, name='watch_the_scheduler', daemon=True).start()


def use_project(project: str) -> None:
    """What `mage start` does first: the Mage modules apply() imports then see the project."""
    from mage_ai.settings.repo import set_repo_path

    set_repo_path(project)


def apply() -> bool:
    """Patch mage-ai's process queue in this process; False (and a warning) for another version."""
    from importlib.metadata import version

    from mage_ai.orchestration import pipeline_scheduler_original
    from mage_ai.orchestration.db.models.schedules import PipelineRun, PipelineSchedule
    from mage_ai.orchestration.queue import process_queue
    from mage_ai.orchestration.triggers.loop_time_trigger import LoopTimeTrigger

    if version('mage-ai') != PATCHED_VERSION:
        print(
            f'[mage_patches] mage-ai {version("mage-ai")} is not {PATCHED_VERSION}: its process queue '
            'is left unpatched; check whether it still has the races in scripts/mage/mage_patches/',
            file=sys.stderr,
        )
        return False
    mage_sources.check()  # before anything is patched: a function patched already hashes as ours
    process_queue.ProcessQueue.enqueue = enqueue
    process_queue.ProcessQueue.has_job = has_job
    process_queue.poll_job_and_execute = poll_job_and_execute  # start_worker_pool looks it up by name
    global WAKE_SCHEDULER, SCHEDULER_PATCHED, SCHEDULER_PID, SERVER_PID, _mages_run_pipeline
    WAKE_SCHEDULER = multiprocessing.get_context('fork').Event()
    SCHEDULER_PATCHED = multiprocessing.get_context('fork').Event()
    SCHEDULER_PID = multiprocessing.get_context('fork').Value('i', 0)
    SERVER_PID = os.getpid()
    block_runs_once.apply()  # before wake_on_create wraps it: the wake comes after the one commit
    if not switched_off('WAKE_ON_NEW_RUNS'):
        for model in (PipelineRun, PipelineSchedule):  # WAKE_ON_NEW_RUNS=0: as Mage does (make bench-runs)
            wake_on_create(model)
    _mages_run_pipeline = pipeline_scheduler_original.run_pipeline
    pipeline_scheduler_original.run_pipeline = run_pipeline  # the job target, looked up when a run starts
    LoopTimeTrigger.start = scheduler_loop
    failures.apply()
    write_pipeline_files_as_committed()
    show_settings_that_are_not_secrets()
    dashboards.apply()
    fresh_block_runs.apply()
    run_labels.apply()
    if prometheus_enabled(os.environ):
        from prometheus_client import REGISTRY

        REGISTRY.register(RunCounts())
    watch_the_scheduler()
    print(
        f'[mage_patches] mage-ai {PATCHED_VERSION} process queue patched, scheduler woken by finished and new runs, '
        'failed blocks say why first, dashboard chart route added, runs made with their block runs at once, '
        f'block runs read fresh, runs labelled with what they load (pid {os.getpid()})',
        flush=True,
    )
    return True
