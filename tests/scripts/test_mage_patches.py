"""scripts/mage/mage_patches/: the three races of mage-ai 0.9.80's process queue, on its real classes."""

import inspect
import multiprocessing as mp
import os
import re
import threading
import time
from pathlib import Path

import psutil
import pytest

from scripts.mage import mage_patches


def touch(path: str) -> None:
    open(path, 'w').close()


def run_pool(poll, tmp_path, delay: float) -> bool:
    """A worker pool (Mage's Worker processes, a real mp.Queue and job dict) that starts while its
    job is still on the way: the job is put `delay` seconds later, as a slow feeder thread would
    deliver it. True if the job ran and the pool then left (no Worker left waiting)."""
    manager = mp.Manager()
    queue, job_dict = mp.Queue(), manager.dict()
    tmp_path.mkdir(parents=True, exist_ok=True)
    done = tmp_path / 'ran'
    job_dict['job_1'] = 'queued'
    pool = mp.get_context('fork').Process(target=poll, args=(queue, 2, job_dict, None, ''))
    pool.start()
    threading.Timer(delay, lambda: queue.put(['job_1', touch, (str(done),), {}])).start()
    pool.join(15)
    left = pool.is_alive()  # a Worker still waiting in queue.get() keeps the pool alive
    # A pool leaves only when no Worker is alive: the job has run by now, or nobody took it and
    # it is still on the queue (it arrives there at `delay` at the latest).
    ran = done.exists() or (not left and queue.get(timeout=delay + 10)[0] != 'job_1')
    if left:
        for process in [psutil.Process(pool.pid), *psutil.Process(pool.pid).children(recursive=True)]:
            process.kill()  # else pytest's exit waits for them
    manager.shutdown()
    return ran and not left


@pytest.fixture()
def mage_db(tmp_path, monkeypatch):
    monkeypatch.setenv('MAGE_DATA_DIR', str(tmp_path / 'mage'))  # the Worker opens a DB session


def test_mages_pool_leaves_a_job_that_arrives_late_the_fixed_pool_runs_it(tmp_path, mage_db):
    from mage_ai.orchestration.queue.process_queue import poll_job_and_execute as mages_own

    assert run_pool(mages_own, tmp_path / 'a', delay=0.5) is False  # the fault, for real
    assert run_pool(mage_patches.poll_job_and_execute, tmp_path / 'b', delay=0.5) is True


def test_enqueue_records_the_job_before_it_is_on_the_queue(mage_db):
    """The interleaving (a polling worker taking the job between the put and the record) cannot be
    forced for real, so this queue stands in for one: it notes what the job dict held at put()."""
    from mage_ai.orchestration.queue.config import QueueConfig
    from mage_ai.orchestration.queue.process_queue import ProcessQueue, QueueStatus

    class RecordingQueue:
        def __init__(self, job_dict):
            self.job_dict, self.seen = job_dict, []

        def put(self, item):
            self.seen.append(self.job_dict.get(item[0]))

        def empty(self):
            return not self.seen

    queue = ProcessQueue(QueueConfig())
    queue.status = QueueStatus.ACTIVE
    queue.is_worker_pool_alive = lambda: True
    queue.queue = RecordingQueue(queue.job_dict)
    ProcessQueue.enqueue(queue, 'job_mage', touch, '/dev/null')
    assert queue.queue.seen == [None]  # Mage's own order: not yet recorded when a worker can take it
    queue.queue = RecordingQueue(queue.job_dict)
    mage_patches.enqueue(queue, 'job_fixed', touch, '/dev/null')
    assert queue.queue.seen == ['queued']


def test_a_job_a_worker_took_and_has_not_yet_marked_still_exists(mage_db, monkeypatch):
    """The state between a Worker's queue.get() and its pid in the job dict, made for real: the job
    is enqueued on Mage's own ProcessQueue (a real mp.Queue and Manager dict) and taken off the
    queue as Mage's Worker.run takes it. Mage's has_job says the job does not exist, so the
    scheduler starts the run again, and clean_up_jobs drops its entry; the patched has_job
    counts it, and clean_up_jobs keeps it."""
    from mage_ai.orchestration.queue.config import QueueConfig
    from mage_ai.orchestration.queue.process_queue import ProcessQueue, QueueStatus

    mages_has_job = ProcessQueue.__dict__['has_job']
    assert mages_has_job is not mage_patches.has_job
    queue = ProcessQueue(QueueConfig())
    queue.status = QueueStatus.ACTIVE
    queue.is_worker_pool_alive = lambda: True  # no pool: the test takes the job as a Worker does
    try:
        mage_patches.enqueue(queue, 'pipeline_run_2', touch, '/dev/null')
        assert queue.queue.get(timeout=10)[0] == 'pipeline_run_2'  # Worker.run: get(), then its pid
        assert queue.job_dict['pipeline_run_2'] == 'queued' and queue.queue.empty()

        assert queue.has_job('pipeline_run_2') is False  # Mage's, the fault for real: "start it again"
        queue.clean_up_jobs()
        assert 'pipeline_run_2' not in queue.job_dict  # and Mage's clean-up drops the entry

        queue.job_dict['pipeline_run_2'] = 'queued'
        monkeypatch.setattr(ProcessQueue, 'has_job', mage_patches.has_job)
        assert queue.has_job('pipeline_run_2') is True
        queue.clean_up_jobs()
        assert queue.job_dict['pipeline_run_2'] == 'queued'  # kept, for the Worker to mark
        queue.job_dict['pipeline_run_2'] = os.getpid()  # the Worker's pid, a live process
        assert queue.has_job('pipeline_run_2') is True
        queue.job_dict['pipeline_run_2'] = 'completed'
        queue.clean_up_jobs()
        assert 'pipeline_run_2' not in queue.job_dict  # a finished job is cleaned up as before
    finally:
        queue.mp_manager.shutdown()


def test_only_the_pinned_version_is_patched():
    from importlib.metadata import version

    assert version('mage-ai') == mage_patches.PATCHED_VERSION  # requirements.txt pins it


class Stop(Exception):
    pass


def fail(path: str) -> None:
    raise RuntimeError(f'a block failed ({path})')


@pytest.mark.parametrize('run', [touch, fail], ids=['run completed', 'run failed'])
def test_a_run_finishing_in_a_worker_wakes_the_scheduler_for_two_ticks(run, tmp_path, monkeypatch):
    """Mage's scheduler loop (its LoopTimeTrigger, with the patched start) ticking every 60 s: a run
    that ends in a forked worker (the patched run_pipeline around a real function) wakes it at
    once, for a tick that marks the run done and one that starts the next; failed runs too.
    The ticks themselves (Mage's schedule_all, which needs its database) are counted instead."""
    from mage_ai.orchestration.triggers.loop_time_trigger import LoopTimeTrigger

    fork = mp.get_context('fork')
    monkeypatch.setenv('PRELOAD_IMPORTS', '0')  # the loop's first step: not what is tested here
    monkeypatch.setattr(mage_patches, 'WAKE_SCHEDULER', fork.Event())
    monkeypatch.setattr(mage_patches, '_mages_run_pipeline', run)
    ticks = []

    class Scheduler(LoopTimeTrigger):
        def run(self):
            ticks.append(time.monotonic())
            if len(ticks) == 3:
                raise Stop

    def run_until_stopped():
        with pytest.raises(Stop):
            mage_patches.scheduler_loop(Scheduler(60))

    loop = threading.Thread(target=run_until_stopped)
    loop.start()
    while not ticks:
        time.sleep(0.05)
    worker = fork.Process(target=mage_patches.run_pipeline, args=(str(tmp_path / 'ran'),))
    worker.start()
    worker.join(30)
    loop.join(30)
    assert not loop.is_alive(), f'the scheduler slept on after the run ended: ticks {ticks}'
    assert len(ticks) == 3 and ticks[2] - ticks[0] < 30  # not the 60 s interval
    assert worker.exitcode == (0 if run is touch else 1)
    assert (tmp_path / 'ran').exists() == (run is touch)


def wake_scenario() -> None:
    """In a fresh interpreter whose MAGE_DATA_DIR is the test's (Mage picks its database URL when
    it is first imported): Mage's own tables, the patched create methods, and what they wake."""
    from mage_ai.orchestration.db import db_connection, engine
    from mage_ai.orchestration.db.models.base import Base
    from mage_ai.orchestration.db.models.schedules import PipelineRun, PipelineSchedule

    db_connection.start_session(force=True)
    Base.metadata.create_all(engine)
    fork = mp.get_context('fork')
    mage_patches.WAKE_SCHEDULER, mage_patches.SERVER_PID = fork.Event(), os.getpid()
    for model in (PipelineRun, PipelineSchedule):
        mage_patches.wake_on_create(model)
    schedule = PipelineSchedule.create(name='once', pipeline_uuid='api_to_postgres', schedule_interval='@once')
    assert mage_patches.WAKE_SCHEDULER.is_set() and schedule.id
    mage_patches.WAKE_SCHEDULER.clear()
    run = PipelineRun.create(pipeline_schedule_id=schedule.id, pipeline_uuid='api_to_postgres', create_block_runs=False)
    assert mage_patches.WAKE_SCHEDULER.is_set()
    db_connection.session.expire_all()
    assert PipelineRun.query.get(run.id) is not None  # committed before the wake
    mage_patches.WAKE_SCHEDULER.clear()
    other = fork.Process(
        target=PipelineRun.create,
        kwargs={'pipeline_schedule_id': schedule.id, 'pipeline_uuid': 'api_to_postgres', 'create_block_runs': False},
    )
    other.start()
    other.join(60)
    assert other.exitcode == 0 and not mage_patches.WAKE_SCHEDULER.is_set()  # the scheduler makes runs too


def test_a_run_or_trigger_created_in_the_server_wakes_the_scheduler(mage_db):
    """Mage's PipelineRun.create and PipelineSchedule.create, patched, on a real Mage database: in
    the server's process they wake the scheduler once the row is committed; in another process
    they do not."""
    child = mp.get_context('spawn').Process(target=wake_scenario)
    child.start()
    child.join(120)
    assert child.exitcode == 0  # an assertion that failed in it is in the output above


def test_the_runs_imports_are_preloaded_unless_switched_off(monkeypatch):
    monkeypatch.setenv('PRELOAD_IMPORTS', '0')
    assert mage_patches.preload_imports() == []
    monkeypatch.setenv('PRELOAD_IMPORTS', '1')
    assert mage_patches.preload_imports() == list(mage_patches.PRELOADED_MODULES)  # every one is installed


def test_the_mage_code_the_patches_replace_or_wrap_is_the_code_they_were_written_against():
    """This venv's mage-ai (requirements.txt's pin): every function a patch replaces or wraps hashes
    as mage_sources.py has it (apply() compares the same before it patches anything)."""
    from scripts.mage.mage_patches import mage_sources

    assert mage_sources.changed() == []
    for target in mage_sources.CHECKED:  # each hash is of the function's own source, not a decorator's
        name = target.rsplit('.', 1)[-1].rsplit(':', 1)[-1]
        name = '__' + name.split('__', 1)[1] if name.startswith('_') and '__' in name[1:] else name
        source = inspect.getsource(mage_sources.mage_function(target))
        assert re.search(rf'^\s*(async )?def {name}\(', source, re.M), (target, source[:200])
    architecture = (Path(__file__).parents[2] / 'docs' / 'architecture.md').read_text()
    assert f'each of the {len(mage_sources.CHECKED)} Mage functions' in ' '.join(
        architecture.split()
    )  # the docs' count


def test_each_workaround_names_what_mage_does_a_test_that_shows_it_and_what_lets_it_go():
    """mage_sources.WORKAROUNDS: every Mage function the patches replace or wrap belongs to one
    workaround, which says what Mage does (a bug, a delay or a gap), names a test that runs Mage's
    own code and shows it still does, and what would let it go; docs/architecture.md lists them."""
    import ast

    from scripts.mage.mage_patches import mage_sources

    repo = Path(__file__).parents[2]
    workarounds = mage_sources.WORKAROUNDS
    assert sum(len(w.functions) for w in workarounds) == len(mage_sources.CHECKED)  # none in two
    architecture = ' '.join((repo / 'docs' / 'architecture.md').read_text().split())
    for w in workarounds:
        assert w.kind in ('bug', 'delay', 'gap') and w.functions and w.mage_does and w.goes_when, w.name
        assert w.kind == 'bug' or w.why, f'{w.name}: a {w.kind} kept says why'
        path, test = w.shown_by.split('::')
        defined = {n.name for n in ast.walk(ast.parse((repo / path).read_text())) if isinstance(n, ast.FunctionDef)}
        assert test in defined, w.shown_by
        assert f'| {w.name} | {w.kind} |' in architecture, w.name


def test_a_changed_or_missing_mage_function_is_named_and_refused():
    from scripts.mage.mage_patches import mage_sources

    target = 'mage_ai.orchestration.triggers.loop_time_trigger:LoopTimeTrigger.start'
    other = {**mage_sources.CHECKED, target: '0' * 16, 'mage_ai.server.server:no_such_function': '1' * 16}
    with pytest.raises(mage_sources.MageCodeChanged) as refused:
        mage_sources.check(other)
    said = str(refused.value)
    assert f'{target}: {mage_sources.CHECKED[target]}, not {"0" * 16}' in said
    assert 'mage_ai.server.server:no_such_function: not found (AttributeError' in said
    assert 'so Mage is not started' in said


def test_start_mage_refuses_when_mage_changed_a_patched_function(tmp_path):
    """A mage-ai whose LoopTimeTrigger.start is not 0.9.80's (a sitecustomize puts another one in
    place at interpreter start, as an upstream change would): start_mage.py exits 2 before Mage
    starts, naming the function."""
    import shutil
    import subprocess
    import sys

    from scripts.stack.processes import free_port

    repo = mage_patches.__file__.rsplit('/scripts/', 1)[0]
    project = tmp_path / 'project'
    shutil.copytree(
        repo, project, ignore=shutil.ignore_patterns('.venv*', '.data', '.git', '__pycache__', '.artifacts')
    )
    (tmp_path / 'site').mkdir()
    (tmp_path / 'site' / 'sitecustomize.py').write_text(
        'from mage_ai.orchestration.triggers import loop_time_trigger\n\n\n'
        'def start(self):  # another mage-ai: a loop that is not the one the patch was written against\n'
        '    while True:\n'
        '        self.run()\n\n\n'
        'loop_time_trigger.LoopTimeTrigger.start = start\n'
    )
    env = {**os.environ, 'PYTHONPATH': str(tmp_path / 'site'), 'MAGE_DATA_DIR': str(tmp_path / 'mage')}
    done = subprocess.run(
        [sys.executable, 'scripts/mage/start_mage.py', str(project), '--port', str(free_port())],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    said = done.stdout + done.stderr
    assert done.returncode == 2, said[-3000:]
    assert (
        '[start_mage] refused: mage-ai code that scripts/mage/mage_patches/ replaces or wraps is not the code' in said
    )
    assert 'mage_ai.orchestration.triggers.loop_time_trigger:LoopTimeTrigger.start: ' in said


def mark_the_scheduler_patched() -> None:
    mage_patches.say_the_scheduler_is_patched()


@pytest.mark.parametrize('start_method', ['fork', 'spawn', 'forkserver'])
def test_a_scheduler_not_forked_from_the_patched_server_is_detected(start_method, monkeypatch):
    """The scheduler's first act, in a real child process started each way: forked, it runs the
    patched code and says so; spawned or from a forkserver (KERNEL_MAGIC's choice, Python 3.14's
    default) it imported Mage and this module afresh, and the server's watch names the method."""
    monkeypatch.setattr(mage_patches, 'SCHEDULER_PATCHED', mp.get_context('fork').Event())
    monkeypatch.setattr(mage_patches, 'SCHEDULER_PID', mp.get_context('fork').Value('i', 0))
    child = mp.get_context(start_method).Process(target=mark_the_scheduler_patched)
    child.start()
    child.join(60)
    assert child.exitcode == 0
    why = mage_patches.scheduler_not_patched(mage_patches.SCHEDULER_PATCHED, 1, start_method)
    if start_method == 'fork':
        assert why is None and mage_patches.SCHEDULER_PID.value == child.pid  # the server's watch compares it
    else:
        assert why is not None and f'multiprocessing start method {start_method!r}' in why
        assert 'so it would run mage-ai unpatched' in why and 'Mage is stopped' in why
