"""What mage-ai 0.9.80's own code still does, for each workaround in
scripts/mage/mage_patches/mage_sources.py's WORKAROUNDS that the quick tier's
test_mage_patches.py does not show already: each test runs Mage's own function first (the
behaviour, for real), then the patched one. When one of these fails on a new mage-ai, Mage has
changed: read its function again and drop the workaround if it is fixed (mage_sources.py).

Not in the quick tier: most start Mage's modules in a fresh interpreter (about 5 s each)."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]


def run_script(script: str, tmp_path: Path) -> str:
    """`script` in a fresh interpreter (Mage's repo path and database are set when it is first
    imported), with this checkout on sys.path and MAGE_DATA_DIR in tmp_path; its stdout."""
    done = subprocess.run(
        [sys.executable, '-c', f'import sys\nREPO = {str(REPO)!r}\nsys.path.insert(0, REPO)\n{script}'],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={'MAGE_DATA_DIR': str(tmp_path / 'mage_data'), 'PATH': '/usr/bin:/bin', 'HOME': str(tmp_path)},
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


class Stop(Exception):
    pass


def test_mages_scheduler_loop_sleeps_out_its_interval_whatever_happens(monkeypatch):
    """Mage's LoopTimeTrigger.start, a tick then time.sleep for the rest of its interval: nothing a
    finished or new run does can cut that sleep short (the patched loop waits on an Event that
    either sets: test_mage_patches.py's wake tests)."""
    from mage_ai.orchestration.triggers import loop_time_trigger

    slept: list[float] = []

    class Clock:  # the module's `time`, for this module only (time.sleep itself is left to other threads)
        time = staticmethod(time.time)

        @staticmethod
        def sleep(seconds: float) -> None:
            slept.append(seconds)
            raise Stop

    monkeypatch.setattr(loop_time_trigger, 'time', Clock)

    class Scheduler(loop_time_trigger.LoopTimeTrigger):
        def run(self):
            pass  # a tick that takes no time: a run ended during it, or was just created

    from scripts.mage import mage_patches

    assert loop_time_trigger.LoopTimeTrigger.start is not mage_patches.scheduler_loop  # Mage's own, here
    started = time.time()
    with pytest.raises(Stop):
        Scheduler(60).start()
    assert len(slept) == 1 and slept[0] >= 60 - (time.time() - started) - 1  # the whole interval


ROUTES = """
from mage_ai.settings.repo import set_repo_path
set_repo_path(REPO)
from tornado.httputil import HTTPServerRequest
from mage_ai.server import server
from scripts.mage.mage_patches import dashboards

uri = '/api/page_block_layouts/pipelines%2Fapi_to_postgres%2Fdashboard/block_layout_items/rows_per_month'
dashboards._mages_make_app = server.make_app
for make_app in (server.make_app, dashboards.make_app_with_dashboard_route):
    found = make_app().find_handler(HTTPServerRequest(method='GET', uri=uri))
    print(found.handler_class.__name__, found.path_kwargs.get('pk', b'').decode())
"""


def test_mages_routes_send_a_chart_request_to_its_layout_the_patched_to_the_chart(tmp_path):
    """A dashboard chart's data request, routed by Mage's own tornado app: to the layout, with the
    chart's path swallowed into its id (so no chart gets data); then by the patched app: to the chart."""
    mages, patched = run_script(ROUTES, tmp_path).splitlines()[-2:]
    assert mages == 'ApiResourceDetailHandler pipelines/api_to_postgres/dashboard/block_layout_items/rows_per_month'
    assert patched == 'ApiChildDetailHandler pipelines/api_to_postgres/dashboard'


FAILED_BLOCK = """
import os
from mage_ai.settings.repo import set_repo_path
project = os.path.abspath('project')
os.makedirs(project)
set_repo_path(project)
from mage_ai.data_preparation.models.block import Block
from mage_ai.data_preparation.models.block.dbt.dbt_cli import DBTCli
from mage_ai.data_preparation.models.pipeline import Pipeline
from scripts.mage.mage_patches import failures


class Records:
    def __init__(self):
        self.said = []

    def __getattr__(self, level):
        return lambda message, *args, **kwargs: self.said.append(f'{level}: {message}')


pipeline = Pipeline.create('course_step', repo_path=project)
block = Block.create('load_month', 'data_loader', project, pipeline=pipeline, language='python')
block.update_content("@data_loader\\ndef load(*args, **kwargs):\\n    raise ValueError('yellow 2019-09, HTTP 404')\\n")
logger = Records()
try:
    Pipeline.get('course_step', repo_path=project).get_block('load_month').execute_block(
        logger=logger, logging_tags={}, global_vars={}
    )
except ValueError as error:
    print('raised:', error)
print('execute_block said:', logger.said)

dbt = DBTCli.__new__(DBTCli)
dbt.logger = Records()
dbt._DBTCli__log('error', 'Database Error in model dim_zones')
failures._mages_dbt_log = DBTCli._DBTCli__log
failures.dbt_log_at_most_warning(dbt, 'error', 'Compilation Error in model fact_trips')
print('dbt lines:', dbt.logger.said)
"""


def test_mages_failed_block_logs_nothing_of_its_reason_and_dbts_errors_at_error(tmp_path):
    """Mage's own Block.execute_block on a loader that raises: it logs nothing, so the run's first
    ERROR record is what Mage's executor logs after its retries ('Failed to execute block …' and
    the traceback); and Mage's DBTCli logs dbt's own error lines at ERROR, before that. The
    patched ones (the reason first; dbt's lines at WARNING) are shown on a real run by
    tests/pipelines/test_recovery.py::test_a_failed_run_says_why_first_in_its_log_its_alert_and_the_audit."""
    said = run_script(FAILED_BLOCK, tmp_path)
    assert 'raised: yellow 2019-09, HTTP 404' in said
    assert 'execute_block said: []' in said
    assert (
        "dbt lines: ['error: Database Error in model dim_zones', 'warning: Compilation Error in model fact_trips']"
        in said
    )


RUNS = """
from mage_ai.settings.repo import set_repo_path
set_repo_path(REPO)
from mage_ai.api.resources.BlockRunResource import BlockRunResource
from mage_ai.orchestration.db import db_connection, engine
from mage_ai.orchestration.db.models.base import Base
from mage_ai.orchestration.db.models.schedules import PipelineRun, PipelineSchedule
from mage_ai.orchestration.pipeline_scheduler_original import PipelineScheduler
from scripts.mage.mage_patches import run_labels

db_connection.start_session(force=True)
Base.metadata.create_all(engine)


def failed_run_at_once():
    schedule = PipelineSchedule.create(
        name='once', pipeline_uuid='api_to_postgres', schedule_type='time', schedule_interval='@once', status='active'
    )
    run = PipelineRun.create(
        pipeline_schedule_id=schedule.id, pipeline_uuid='api_to_postgres', create_block_runs=False,
        variables={'service': 'green', 'year': 2020, 'month': 10},
    )
    run.update(status=PipelineRun.PipelineRunStatus.FAILED)
    print('name:', run.pipeline_schedule_name)
    block_run = ('load_taxi_csv', None, None, 1, run.id, None, 'failed', None, schedule.id, schedule.name)
    (listed,) = BlockRunResource.build_result_set([block_run], None)  # a run page's block runs
    print('block run:', listed.model['pipeline_schedule_name'])
    PipelineScheduler(run).on_pipeline_run_failure('a block failed')
    db_connection.session.expire_all()
    print('trigger:', PipelineSchedule.query.get(schedule.id).status)


failed_run_at_once()
run_labels.apply()
failed_run_at_once()
"""


def test_mages_runs_say_only_their_trigger_and_leave_a_failed_run_at_once_active(tmp_path):
    """On Mage's own database, a Run@once trigger's run of green 2020-10 that failed: Mage's run
    and its block runs (a run page's Trigger column) say only the trigger's name, and Mage leaves
    the trigger active; patched, they say the month the run loads and the trigger is switched off."""
    said = run_script(RUNS, tmp_path).splitlines()
    lines = [line for line in said if line.startswith(('name:', 'block run:', 'trigger:'))]
    assert lines == [
        'name: once',
        'block run: once',
        'trigger: active',
        'name: once · green 2020-10',
        'block run: once · green 2020-10',
        'trigger: inactive',
    ]


BLOCK_RUNS = """
from mage_ai.settings.repo import set_repo_path
set_repo_path(REPO)
from sqlalchemy import text
from mage_ai.api.resources.BlockRunResource import BlockRunResource
from mage_ai.orchestration.db import db_connection, engine
from mage_ai.orchestration.db.models.base import Base
from mage_ai.orchestration.db.models.schedules import BlockRun, PipelineRun, PipelineSchedule
from scripts.mage.mage_patches import fresh_block_runs

db_connection.start_session(force=True)
Base.metadata.create_all(engine)
schedule = PipelineSchedule.create(name='api', pipeline_uuid='api_to_postgres', schedule_type='api')
run = PipelineRun.create(pipeline_schedule_id=schedule.id, pipeline_uuid='api_to_postgres', create_block_runs=False)
sensor = BlockRun.create(pipeline_run_id=run.id, block_uuid='wait_for_release_file')


def listed(status):
    # what the run's process does: the block's status, written through a connection of its own
    with engine.begin() as connection:
        connection.execute(text('UPDATE block_run SET status = :s WHERE id = :i'), {'s': status, 'i': sensor.id})
    held = list(BlockRunResource.collection({}, {}, None, parent_model=run))  # the run page's block list
    print('listed:', [b.status.value for b in held], 'stored:', status.lower())


listed('RUNNING')
fresh_block_runs.apply()
listed('COMPLETED')
"""


def test_mages_block_runs_of_a_run_keep_the_status_first_read_the_patched_the_stored(tmp_path):
    """On Mage's own database, a block run its web server's session already holds: the run's
    process sets it running, and Mage's listing of the run's block runs still says initial, the
    value it read first; patched, the listing says what is stored."""
    said = [line for line in run_script(BLOCK_RUNS, tmp_path).splitlines() if line.startswith('listed:')]
    assert said == ["listed: ['initial'] stored: running", "listed: ['completed'] stored: completed"]


def test_mages_editor_output_hides_the_mirrors_url_the_patched_only_secrets(monkeypatch):
    """Mage's filter of what the editor shows, on a loader's line with the mirror's URL, beside a
    password: Mage's own list hides both; with SHOWN_SETTINGS added, the URL shows, the password not."""
    from mage_ai.shared import security

    from scripts.mage.mage_patches import editor

    monkeypatch.setattr(security, 'WHITELISTED_ENV_VARS', set(security.WHITELISTED_ENV_VARS))  # this test's copy
    monkeypatch.setenv('NYC_TLC_BASE_URL', 'http://127.0.0.1:8765')
    monkeypatch.setenv('POSTGRES_HOST', '127.0.0.1')
    monkeypatch.setenv('POSTGRES_PASSWORD', 'not-the-default')
    line = 'GET http://127.0.0.1:8765/yellow/yellow_tripdata_2021-01.csv.gz as taxi / not-the-default'
    assert security.filter_out_env_var_values(line) == (
        f'GET {"*" * 21}/yellow/yellow_tripdata_2021-01.csv.gz as taxi / {"*" * 15}'
    )
    monkeypatch.delenv('NYC_TLC_BASE_URL')  # a URL in a setting Mage shows: the host is still stars
    assert security.filter_out_env_var_values(line).startswith(f'GET http://{"*" * 9}:8765/yellow/')
    monkeypatch.setenv('NYC_TLC_BASE_URL', 'http://127.0.0.1:8765')
    editor.show_settings_that_are_not_secrets()
    assert security.filter_out_env_var_values(line) == (
        f'GET http://127.0.0.1:8765/yellow/yellow_tripdata_2021-01.csv.gz as taxi / {"*" * 15}'
    )


BLOCK_RUNS_ONCE = """
from mage_ai.settings.repo import set_repo_path
set_repo_path(REPO)
import threading
from collections import Counter
from mage_ai.orchestration.db import db_connection, engine
from mage_ai.orchestration.db.models.base import Base
from mage_ai.orchestration.db.models.schedules import BlockRun, PipelineRun, PipelineSchedule
from mage_ai.orchestration.pipeline_scheduler_original import PipelineScheduler
from scripts.mage.mage_patches import block_runs_once

db_connection.start_session(force=True)
Base.metadata.create_all(engine)
schedule = PipelineSchedule.create(name='api', pipeline_uuid='api_to_postgres', schedule_type='api')
mages_create_block_run = PipelineRun.create_block_run
ticked = []


def a_scheduler_tick():
    # what Mage's scheduler process does at a tick, on a session of its own: start each initial run
    for run in PipelineRun.query.filter(PipelineRun.status == PipelineRun.PipelineRunStatus.INITIAL).all():
        print('the tick starts run', run.id)
        PipelineScheduler(run).start(should_schedule=False)
    db_connection.session.remove()


def a_tick_before_the_first_block_run(self, *args, **kwargs):
    if not ticked:
        ticked.append(True)
        tick = threading.Thread(target=a_scheduler_tick)
        tick.start()
        tick.join()
    return mages_create_block_run(self, *args, **kwargs)


def made(label):
    ticked.clear()
    run = PipelineRun.create(pipeline_schedule_id=schedule.id, pipeline_uuid='api_to_postgres')
    per_block = Counter(b.block_uuid for b in BlockRun.query.filter(BlockRun.pipeline_run_id == run.id))
    print('made:', label, len(per_block), 'blocks,', sorted(set(per_block.values())), 'block runs each')


PipelineRun.create_block_run = a_tick_before_the_first_block_run
made('mage')
block_runs_once.apply()
made('patched')

from sqlalchemy.exc import OperationalError
from mage_ai.orchestration.db import safe_db_query


locked = []


@safe_db_query  # as Mage's own create_block_run: rolled back and tried again on an OperationalError
def locked_once(self, block_uuid, **kwargs):
    if not locked:
        locked.append(True)
        raise OperationalError('INSERT INTO block_run', {}, Exception('database is locked'))
    return BlockRun.create(block_uuid=block_uuid, pipeline_run_id=self.id, **kwargs)


before = (PipelineRun.query.count(), BlockRun.query.count())
PipelineRun.create_block_run = locked_once
try:
    PipelineRun.create(pipeline_schedule_id=schedule.id, pipeline_uuid='api_to_postgres')
except block_runs_once.RolledBack as e:
    print('rolled back:', e, before == (PipelineRun.query.count(), BlockRun.query.count()))
"""


def test_mages_new_run_gets_a_second_set_of_block_runs_from_a_tick_the_patched_one_set(tmp_path):
    """On Mage's own database and scheduler code: a tick (a thread with its own session, as the
    scheduler process has) between Mage's commit of a new run and its first block run finds the
    run with none and makes a set, then create makes its own; patched, the tick does not see the
    run until its block runs are committed with it. And a block run that Mage's safe_db_query
    rolled back and made again voids the patched create: no run, no block run is left."""
    out = run_script(BLOCK_RUNS_ONCE, tmp_path)
    said = [line for line in out.splitlines() if line.startswith(('made:', 'the tick', 'rolled back:'))]
    assert said == [
        'the tick starts run 1',
        'made: mage 7 blocks, [2] block runs each',
        'made: patched 7 blocks, [1] block runs each',
        'rolled back: the pipeline run and its block runs were not created: the session rolled back inside True',
    ], out[-3000:]
