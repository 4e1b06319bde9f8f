"""A run's block runs as Mage's database holds them now, not as the web server first read them.

Mage's web server keeps one SQLAlchemy session for its whole life. A list request reads through
it and leaves it as it is (only a detail request, DatabaseResource.member, commits first, which
expires what it holds). A query of rows the session already holds returns its objects with the
values it read then: SQLAlchemy does not overwrite loaded attributes. So GET
/api/pipeline_runs/<id>/block_runs (the run page's block list) can say a block is `initial` long
after the run's process set it `running` in the database, for as long as anything keeps the old
object alive. Measured here, reading both each second beside the whole test suite: 43 s of
`initial` for a sensor the database had as `running`, and once more than 300 s, which failed
tests/pipelines/test_sensors.py. Mage knows the effect: PipelineRunResource.collection expires the
runs still in progress "so that the latest status is returned"; BlockRunResource does not.

The fix: the run's block runs are read with `populate_existing()`, which refreshes each object
the session already holds from the row just read. The listing's other branch (no run given)
selects columns, not objects, and is fresh already.
"""

from __future__ import annotations

from typing import Any

_mages_collection: Any = None  # BlockRunResource.collection as Mage has it, kept by apply()


def block_runs_as_stored(cls, query_arg, meta, user, **kwargs):
    """BlockRunResource.collection, a run's block runs refreshed from the rows read."""
    found = _mages_collection(cls, query_arg, meta, user, **kwargs)
    if kwargs.get('parent_model') is not None:  # BlockRun.query.filter(...): objects of the session
        return found.populate_existing()
    return found


def apply() -> None:
    global _mages_collection
    from mage_ai.api.resources.BlockRunResource import BlockRunResource

    _mages_collection = BlockRunResource.__dict__['collection'].__func__
    BlockRunResource.collection = classmethod(block_runs_as_stored)
