"""A run and its block runs committed together, so that Mage's scheduler never makes a second set.

Mage's PipelineRun.create commits the new run, then makes its block runs one commit at a time
(create_block_runs loads the pipeline, then adds each block's row). A scheduler tick that comes in
between, in Mage's scheduler process, finds the run `initial` with no block runs, and its
PipelineScheduler.start makes a set itself: the run then has two block runs of each block, and
its process runs both. The lock start() takes is one of its own process: the server's create does
not see it. Seen here, with tests/pipelines/test_recovery.py's first test repeated on one stack
beside the whole suite, in its 12th run: run 35 had block runs 211-224, two of each of its 7
blocks, made by the two processes interleaved (211-212, 213-219, 220-224); the month was loaded
twice, and the export of one set failed while the other's was cancelled, so the test read
`cancelled`. A tick is likely just then when another run ends (it wakes the scheduler).

The fix: inside Mage's own PipelineRun.create, each commit is a flush, and one commit at the end
shows the run and all its block runs at once. A failure or a rollback inside fails the whole
create (nothing is committed: never a run without its block runs). A create whose caller commits
itself (commit=False) is left as Mage has it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_mages_create: Any = None  # PipelineRun.create as Mage has it, kept by apply()


class RolledBack(RuntimeError):
    """Something inside a one-commit create rolled the session back: the create is void."""


@contextmanager
def one_commit(session) -> Iterator[None]:
    """Each `session.commit()` inside is a flush; the last one commits them all. `session` is a
    Session (not Mage's scoped_session proxy, which forwards to it)."""
    rolled_back: list[bool] = []
    commit, rollback = session.commit, session.rollback

    def note_rollback() -> None:
        rolled_back.append(True)
        rollback()

    session.commit, session.rollback = session.flush, note_rollback
    try:
        yield
        if rolled_back:  # e.g. Mage's safe_db_query retried a step: what it had flushed before is gone
            raise RolledBack('the pipeline run and its block runs were not created: the session rolled back inside')
    except BaseException:
        rollback()
        raise
    finally:
        del session.commit, session.rollback
    commit()


def create_with_its_block_runs(cls, *args, **kwargs):
    """Mage's PipelineRun.create, committed once: the run appears with its block runs."""
    from mage_ai.orchestration.db import db_connection

    scoped = db_connection.session
    if kwargs.get('commit') is False or scoped is None:
        return _mages_create(cls, *args, **kwargs)
    session = scoped()  # this thread's Session, which every Mage model commits through
    if 'commit' in vars(session):  # inside another one-commit create already
        return _mages_create(cls, *args, **kwargs)
    with one_commit(session):
        return _mages_create(cls, *args, **kwargs)


def apply() -> None:
    global _mages_create
    from mage_ai.orchestration.db.models.schedules import PipelineRun

    _mages_create = PipelineRun.__dict__['create'].__func__
    PipelineRun.create = classmethod(create_with_its_block_runs)
