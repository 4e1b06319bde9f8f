"""`make run`'s machinery end to end: PostgreSQL + sample mirror + `mage start`, the pipelines
fired through the server's API trigger (so the runs are in Mage's database and UI), a second
`up` that reuses what runs, and `down` that stops it all. Ports and folders are the test's own."""

import os
import shutil
import subprocess
import sys

import pytest
from conftest import REPO, open_tmp_dir

from scripts.local_services import free_port, port_open
from scripts.mage_api import MageServer

pytestmark = pytest.mark.mage


def ui_dom(url: str, tmp_path) -> str:
    """The page's DOM after headless Chromium has run its JavaScript."""
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    if not chromium:
        pytest.fail('chromium is not installed: `make test` installs it (scripts/setup.sh --test)')
    done = subprocess.run(
        [chromium, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         f'--user-data-dir={tmp_path / "chromium"}', '--window-size=1400,900',
         '--virtual-time-budget=20000', '--dump-dom', url],
        capture_output=True, text=True, timeout=120,
    )
    return done.stdout


def test_up_runs_the_pipelines_in_the_server_then_down_stops_everything():
    tmp_path = open_tmp_dir('nyc-taxi-run-')
    ports = {'POSTGRES_PORT': free_port(), 'MAGE_PORT': free_port(), 'MIRROR_PORT': free_port(),
             'GCS_PORT': free_port(), 'BIGQUERY_PORT': free_port()}
    env = {
        **os.environ,
        **{k: str(v) for k, v in ports.items()},
        'GCS_EMULATOR_URL': f"http://127.0.0.1:{ports['GCS_PORT']}",
        'BIGQUERY_EMULATOR_URL': f"http://127.0.0.1:{ports['BIGQUERY_PORT']}",
        'LOCAL_DATA_DIR': str(tmp_path / 'data'),
        'PGDATA_DIR': str(tmp_path / 'data' / 'postgres'),
        'MAGE_DATA_DIR': str(tmp_path / 'data' / 'mage'),
    }
    env.pop('NYC_TLC_BASE_URL', None)
    cmd = [sys.executable, str(REPO / 'scripts' / 'run_local.py')]
    try:
        up = subprocess.run(cmd + ['up', '--detach'], env=env, capture_output=True, text=True, timeout=600)
        assert up.returncode == 0, up.stdout + up.stderr
        mage = MageServer(f"http://127.0.0.1:{ports['MAGE_PORT']}")
        for pipeline in ('api_to_postgres', 'api_to_gcs', 'gcs_to_bigquery'):
            assert up.stdout.count(f'[run] OK   {pipeline} run') == 2, up.stdout
            runs = mage.runs(pipeline)
            assert sorted(r['status'] for r in runs) == ['completed', 'completed']
            assert sorted(r['variables']['service'] for r in runs) == ['green', 'yellow']

        # what a person sees: the UI's run list, rendered by a real browser
        page = ui_dom(f"http://127.0.0.1:{ports['MAGE_PORT']}/pipelines/api_to_postgres/runs", tmp_path)
        badge = '</div></div></button>'  # a run's status badge
        assert page.count('api_to_postgres_on_demand') == 2, page[-2000:]
        assert page.count(f'>Done{badge}') == 2 and page.count(f'>Failed{badge}') == 0, page[-2000:]

        again = subprocess.run(cmd + ['up', '--detach'], env=env, capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stdout + again.stderr
        assert 'Mage UI already running' in again.stdout
        assert len(mage.runs('api_to_postgres')) == 4 and len(mage.runs('gcs_to_bigquery')) == 4
    finally:
        down = subprocess.run(cmd + ['down'], env=env, capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not any(port_open(p) for p in ports.values()), down.stdout
    shutil.rmtree(tmp_path, ignore_errors=True)
