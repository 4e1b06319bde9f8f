"""How `make test` spreads the suite over its pytest-xdist workers (tests/conftest.py's hooks).

The tests of one group all run on one worker, one after another. The modules of the session's
`make up` stack share one group (one stack, one Mage server, started once); the ones that run dbt
from the checkout's own project share another (dbt keeps one target/ folder per target there);
any other module is a group of its own (its module-scoped servers start once). Groups are told by
path because the xdist controller sees node ids only (xdist's own --dist loadgroup renames node
ids, which pytest 9 no longer reads: it grouped nothing); check_and_order checks the paths
against the fixtures each test uses.
"""

from __future__ import annotations

import os

import pytest

SHARED_STACK = (
    'tests/pipelines/test_dbt_marts.py',
    'tests/pipelines/test_metrics.py',
    'tests/pipelines/test_month_check.py',
    'tests/pipelines/test_services.py',
    'tests/pipelines/test_orchestration.py',
    'tests/pipelines/test_recovery.py',
    'tests/pipelines/test_sensors.py',
    'tests/test_run_local.py',
    'tests/ui/',
)
DBT_IN_CHECKOUT = ('tests/pipelines/test_postgres_marts.py', 'tests/pipelines/test_bigquery_marts.py')
# On workers, the longest groups go first (xdist hands out groups in collection order, as the
# Makefile says --no-loadscope-reorder): whatever is left then fills both workers to the end.
LONGEST_FIRST = ('stack', 'tests/compose/test_compose.py', 'tests/test_bench.py', 'tests/scripts/test_login_on.py')


def worker_group(nodeid: str) -> str:
    path = nodeid.split('::')[0]
    if path.startswith(SHARED_STACK):
        return 'stack'
    if path in DBT_IN_CHECKOUT:
        return 'dbt-in-checkout'
    return path


def check_and_order(items: list[pytest.Item]) -> None:
    """A test that uses the session stack outside SHARED_STACK is an error (it would start a second
    stack on the other worker); on a worker, the items in LONGEST_FIRST order."""
    stray = sorted(
        {i.nodeid.split('::')[0] for i in items if 'stack' in i.fixturenames and worker_group(i.nodeid) != 'stack'}
    )
    if stray:
        raise pytest.UsageError(
            f'{", ".join(stray)} use(s) the session stack: add it to SHARED_STACK in tests/support/worker_groups.py'
        )
    if os.environ.get('PYTEST_XDIST_WORKER'):  # every worker sorts alike: their collections must be equal
        first = {group: rank for rank, group in enumerate(LONGEST_FIRST)}
        items.sort(key=lambda item: first.get(worker_group(item.nodeid), len(first)))


def scheduler(config, log):
    """xdist's scheduling by scope (a scope's tests on one worker, scopes handed out in collection
    order), with worker_group as the scope."""
    from xdist.scheduler import LoadScopeScheduling

    class WorkerGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return worker_group(nodeid)

    return WorkerGroups(config, log)
