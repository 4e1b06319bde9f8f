"""`make up` as a new user runs it, on a fresh copy of the checkout in a mode-700 folder (as
root, the `postgres` user cannot enter it): PostgreSQL + sample mirror + emulators + `mage start`,
the pipelines fired through the server's API trigger (so the runs are in Mage's database and
UI). Every service listens on loopback only, read from the OS. A second `up` reuses what runs;
`make stop` and `make clean` run at the session's end (the `stack` fixture)."""

import ipaddress
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, open_tmp_dir, query

from scripts.mage import mage_patches
from scripts.stack.local_postgres import BULK_LOAD_SETTINGS
from scripts.stack.processes import free_port, port_open

pytestmark = pytest.mark.mage


def ui_dom(url: str, tmp_path) -> str:
    """The page's DOM after headless Chromium has run its JavaScript."""
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    if not chromium:
        pytest.fail('chromium is not installed: `make test` installs it (scripts/stack/setup.sh --test)')
    done = subprocess.run(
        [
            chromium,
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--disable-quic',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            f'--user-data-dir={tmp_path / "chromium"}',
            '--window-size=1400,900',
            '--virtual-time-budget=20000',
            '--dump-dom',
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout


def test_make_up_runs_the_pipelines_in_the_server(stack):
    for pipeline in ('api_to_postgres', 'api_to_gcs', 'gcs_to_bigquery'):
        assert stack.up_output.count(f'[run] OK   {pipeline} run') == 2, stack.up_output
        runs = [
            r for r in stack.mage.runs(pipeline) if r['pipeline_schedule_name'].startswith(f'{pipeline}_on_demand · ')
        ]
        assert sorted(r['status'] for r in runs)[:2] == ['completed', 'completed']
        assert {r['variables']['service'] for r in runs} >= {'green', 'yellow'}
        # the run list says what each loaded (scripts/mage/mage_patches/run_labels.py)
        assert {r['pipeline_schedule_name'].split(' · ')[1] for r in runs} >= {'green 2020-10', 'yellow 2021-01'}
    assert f'Mage UI on http://127.0.0.1:{stack.ports["MAGE_PORT"]}, this machine only' in stack.up_output
    # the marts, refreshed for each month api_to_postgres loaded
    assert stack.up_output.count('[run] OK   postgres_marts run') == 2, stack.up_output
    assert stack.up_output.count('[run] OK   bigquery_marts run') == 2, stack.up_output
    # module 3's tables over green's partitioned folder
    assert stack.up_output.count('[run] OK   partitioned_to_bigquery run') == 1, stack.up_output
    # the homework, offline on its whole quarter
    assert stack.up_output.count('[run] OK   green_taxi_etl run') == 1, stack.up_output
    (homework,) = [
        r
        for r in stack.mage.runs('green_taxi_etl')
        if r['pipeline_schedule_name'] == 'green_taxi_etl_on_demand · green 2020-10,11,12'
    ]
    assert homework['status'] == 'completed' and homework['variables']['months'] == [10, 11, 12]


def test_the_server_runs_with_the_process_queue_fixed(stack):
    """scripts/mage/mage_patches/ reached the scheduler: its enqueue left its mark in Mage's log, and
    so did the scheduler, woken by the workers of `make up`'s finished runs."""
    log = (stack.checkout / '.data' / 'logs' / 'mage.log').read_text()
    assert '[mage_patches] mage-ai 0.9.80 process queue patched' in log
    assert 'Enqueue job pipeline_run_1 (recorded before the put)' in log
    assert log.count(f'[mage_patches] {mage_patches.WOKEN}') >= 6, log[-3000:]  # make up made 11 runs


def test_the_database_runs_with_the_bulk_load_settings(stack):
    with stack.postgres().connect() as conn, conn.cursor() as cur:
        for setting in BULK_LOAD_SETTINGS:
            name, value = setting.split('=')
            cur.execute(f'SHOW {name}')
            assert cur.fetchone()[0] == value, setting


def loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    return (getattr(address, 'ipv4_mapped', None) or address).is_loopback  # ::ffff:127.0.0.1 too


def test_every_service_listens_on_loopback_only(stack):
    sockets = stack.listening()
    by_port = {port: (ip, name) for ip, port, name in sockets}
    for setting, port in stack.ports.items():  # each service is there (the check below can fail)
        assert port in by_port, f'nothing of the stack listens on {setting}={port}: {sockets}'
    exposed = [s for s in sockets if not loopback(s[0])]
    assert exposed == [], f'listening beyond loopback: {exposed}'


@pytest.mark.skipif(os.geteuid() != 0, reason='the private-folder case is about running as root')
def test_as_root_the_database_lives_in_a_folder_of_the_postgres_user(stack):
    datadir = stack.postgres_datadir()
    assert not datadir.is_relative_to(stack.checkout)
    assert datadir.parent.parent == Path(os.path.expanduser('~postgres')) / 'nyc-taxi-mage'
    assert datadir.parent.name.startswith('nyc-taxi-mage-')  # named after the checkout
    assert datadir.parent.stat().st_uid == int(subprocess.check_output(['id', '-u', 'postgres']))
    assert 'outside the checkout: the postgres user cannot enter' in stack.up_output
    assert stack.checkout.parent.stat().st_mode & 0o777 == 0o700  # the user's folder is untouched
    status = stack.make('status')
    assert f'data in {datadir}' in status.stdout, status.stdout
    ports = stack.ports  # each service's address, as the stack started it
    for line in (
        f'PostgreSQL: running on 127.0.0.1:{ports["POSTGRES_PORT"]}, ',
        f'mirror: running on http://127.0.0.1:{ports["MIRROR_PORT"]}',
        f'gcs emulator: running on http://127.0.0.1:{ports["GCS_PORT"]}',
        f'bigquery emulator: running on http://127.0.0.1:{ports["BIGQUERY_PORT"]}',
        f'Mage: running on http://127.0.0.1:{ports["MAGE_PORT"]}',
    ):
        assert line in status.stdout, status.stdout


def test_make_psql_reaches_the_stack_s_database_with_its_settings(stack, db):
    """`make psql SQL=...` on the stack's own port, user and password (none of them the
    defaults' port): the schema is on the search path, and stdout is psql's answer alone."""
    sql = "SELECT count(*) FROM green_taxi_data WHERE source_month = '2020-10-01'"
    done = stack.make('psql', SQL=sql)
    assert done.returncode == 0, done.stdout + done.stderr
    (expected,) = query(db, sql.replace('FROM green_taxi_data', 'FROM ny_taxi.green_taxi_data'))[0]
    assert done.stdout.split() == ['count', '-------', str(expected), '(1', 'row)'] and expected > 0
    refused = stack.make('psql', SQL='SELECT * FROM no_such_table')
    assert refused.returncode != 0 and 'no_such_table' in refused.stderr
    # the course's profiles' database, made by scripts/mage/start_mage.py as Mage started
    course = stack.make('psql', DB='course', SQL='SELECT current_database()')
    assert course.returncode == 0 and course.stdout.split()[2] == 'course', course.stdout + course.stderr


def test_the_ui_shows_the_runs(stack, tmp_path):
    """api_to_gcs: `make up` runs it twice (test_services more), the orchestration tests backfill
    two months; the only failed api_to_gcs runs are test_services' faulty parquet months of green
    2023-02, failed on purpose, and the list shows each as Failed."""
    runs = stack.mage.runs('api_to_gcs')
    failed = [r for r in runs if r['status'] == 'failed']
    on_purpose = [r for r in failed if (r.get('variables') or {}).get('year') == 2023]
    assert failed == on_purpose, [(r['id'], r.get('variables')) for r in failed]
    page = ui_dom(f'http://127.0.0.1:{stack.ports["MAGE_PORT"]}/pipelines/api_to_gcs/runs', tmp_path)
    badge = '</div></div></button>'  # a run's status badge
    assert page.count('api_to_gcs_on_demand') >= 2, page[-2000:]
    assert page.count(f'>Done{badge}') >= 2 and page.count(f'>Failed{badge}') == len(on_purpose), page[-2000:]


def test_a_second_up_reuses_the_running_services(stack):
    before = len(stack.mage.runs('gcs_to_bigquery'))
    again = stack.make('up', PIPELINES='gcs_to_bigquery')
    assert again.returncode == 0, again.stdout + again.stderr
    assert 'Mage UI already running' in again.stdout
    assert len(stack.mage.runs('gcs_to_bigquery')) == before + 2


@pytest.mark.parametrize('host', ['0.0.0.0', '192.0.2.10', '::', 'taxi.example'])
def test_exposing_the_ui_with_the_login_off_is_refused_and_nothing_starts(host):
    tmp = open_tmp_dir('nyc-taxi-exposed-')
    port = free_port()
    env = {
        **os.environ,
        'MAGE_HOST': host,
        'REQUIRE_USER_AUTHENTICATION': '0',
        'LOCAL_DATA_DIR': str(tmp),
        'PGDATA_DIR': str(tmp / 'postgres'),
        'POSTGRES_PORT': str(port),
    }
    done = subprocess.run(
        [sys.executable, str(REPO / 'scripts' / 'stack' / 'run_local.py'), 'up', '--detach'],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f'MAGE_HOST={host} would open the Mage UI' in done.stdout
    assert 'REQUIRE_USER_AUTHENTICATION=0 turns the login off' in done.stdout
    assert 'nothing was started' in done.stdout
    assert not port_open(port) and not (tmp / 'postgres').exists() and not (tmp / 'run').exists()
    shutil.rmtree(tmp)
