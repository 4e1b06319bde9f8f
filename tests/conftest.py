"""Real servers for the tests: a throwaway PostgreSQL cluster and an HTTP source server."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.source_server import SourceServer

from scripts.stack.local_emulators import start_bigquery_emulator, start_fake_gcs
from scripts.stack.local_postgres import Postgres
from scripts.stack.processes import free_port, stop_process_group

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / 'samples'
FIXTURES = Path(__file__).resolve().parent / 'fixtures'
YELLOW_SAMPLE = SAMPLES / 'yellow' / 'yellow_tripdata_2021-01.csv.gz'
GREEN_MONTH = SAMPLES / 'green' / 'green_tripdata_2020-10.csv.gz'
GREEN_SAMPLE_CSV = FIXTURES / 'green_tripdata_2020-10_sample.csv'


def open_tmp_dir(prefix: str) -> Path:
    """A temporary folder that the `postgres` user can reach (pytest's tmp_path is 0700)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    return root


@contextlib.contextmanager
def small_disk(size: str, owner: str | None = None) -> Iterator[Path]:
    """A real disk that fills up: a tmpfs of `size` (e.g. '2m') mounted on a fresh folder.

    Mounting needs root: the calling test is skipped, with the reason, where it cannot."""
    if os.geteuid() != 0:
        pytest.skip('mounting a tmpfs needs root; this machine runs the tests as another user')
    mount = open_tmp_dir('nyc-taxi-disk-')
    done = subprocess.run(
        ['mount', '-t', 'tmpfs', '-o', f'size={size}', 'tmpfs', str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        shutil.rmtree(mount, ignore_errors=True)
        pytest.skip(f'cannot mount a tmpfs here: {done.stderr.strip()}')
    try:
        mount.chmod(0o755)
        if owner:
            shutil.chown(mount, owner, owner)
        yield mount
    finally:
        subprocess.run(['umount', str(mount)], check=False)
        shutil.rmtree(mount, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    from support.worker_groups import check_and_order

    check_and_order(items)


def pytest_xdist_make_scheduler(config, log):
    from support.worker_groups import scheduler

    return scheduler(config, log)


def pytest_sessionfinish(session, exitstatus):
    if _warm_cli is not None:
        _warm_cli.stop()


@pytest.fixture(scope='session')
def pg_server():
    """A real PostgreSQL server on a free port, in a temporary folder, for the whole session."""
    root = open_tmp_dir('nyc-taxi-pg-')
    server = Postgres(datadir=root / 'data', port=free_port(), user='taxi', password='taxi-test', dbname='ny_taxi')
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope='session')
def gcs_emulator():
    """fake-gcs-server on a free port; yields (base URL, filesystem root)."""
    root = open_tmp_dir('nyc-taxi-gcs-')
    port = free_port()
    proc = start_fake_gcs(root / 'objects', port, root / 'gcs.log')
    yield f'http://127.0.0.1:{port}', root / 'objects'
    stop_process_group(proc.pid)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope='session')
def bigquery_emulator(gcs_emulator):
    """local-bigquery on a free port, reading gs:// from the GCS emulator's files."""
    root = open_tmp_dir('nyc-taxi-bq-')
    port = free_port()
    proc = start_bigquery_emulator(root / 'data', gcs_emulator[1], port, 'local-project', root / 'bq.log')
    yield f'http://127.0.0.1:{port}'
    stop_process_group(proc.pid)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture()
def cloud_env(taxi_env, gcs_emulator, bigquery_emulator, monkeypatch) -> dict[str, str]:
    """taxi_env plus the emulators, with a fresh bucket and dataset name for this test."""
    suffix = uuid.uuid4().hex[:8]
    values = {
        'GOOGLE_PROJECT_ID': 'local-project',
        'GCS_BUCKET': f'nyc-taxi-{suffix}',
        'BIGQUERY_DATASET': f'ny_taxi_{suffix}',
        'GOOGLE_LOCATION': 'US',
        'GCS_EMULATOR_URL': gcs_emulator[0],
        'BIGQUERY_EMULATOR_URL': bigquery_emulator,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    from utils.sinks.environment import storage_client

    storage_client().create_bucket(values['GCS_BUCKET'])
    return {**taxi_env, **values}


@pytest.fixture(scope='session')
def source_root(tmp_path_factory) -> Path:
    """The served tree: the bundled samples plus files a test adds (faults, other months)."""
    root = tmp_path_factory.mktemp('source')
    shutil.copytree(SAMPLES, root, dirs_exist_ok=True)
    return root


@pytest.fixture(scope='session')
def source(source_root):
    with SourceServer(source_root) as server:
        yield server


@pytest.fixture()
def served(source, source_root):
    """Put a file on the source server for one test: served(service, year, month, data).

    A file that was there before (a bundled sample) is put back after the test.
    """
    saved: dict[Path, bytes | None] = {}

    def put(service: str, year: int, month: int, data: bytes, gzipped: bool = False) -> str:
        path = source_root / service / f'{service}_tripdata_{year:04d}-{month:02d}.csv.gz'
        path.parent.mkdir(exist_ok=True)
        saved.setdefault(path, path.read_bytes() if path.exists() else None)
        path.write_bytes(data if gzipped else gzip.compress(data, mtime=0))
        return f'/{service}/{path.name}'

    yield put
    for path, data in saved.items():
        if data is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(data)
    source.faults.clear()


@pytest.fixture()
def taxi_env(pg_server, source, tmp_path, monkeypatch) -> dict[str, str]:
    """The environment a pipeline run gets: the io_config `local` profile's variables."""
    values = {
        'IO_CONFIG_PROFILE': 'local',
        'POSTGRES_DBNAME': pg_server.dbname,
        'POSTGRES_SCHEMA': 'ny_taxi',
        'POSTGRES_USER': pg_server.user,
        'POSTGRES_PASSWORD': pg_server.password,
        'POSTGRES_HOST': '127.0.0.1',
        'POSTGRES_PORT': str(pg_server.port),
        'NYC_TLC_BASE_URL': source.base_url,
        'TAXI_WORK_DIR': str(tmp_path / 'work'),
        'TAXI_HTTP_BACKOFF': '0.1',
        'TAXI_HTTP_TIMEOUT': '2',
        'MAGE_DATA_DIR': str(tmp_path / 'mage'),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture()
def pg(pg_server, taxi_env):
    """A connection to the test database, with the ny_taxi schema dropped before the test."""
    conn = pg_server.connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute('DROP SCHEMA IF EXISTS ny_taxi CASCADE')
    yield conn
    conn.close()


def query(conn, sql: str, params=()) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def table_fingerprint(conn, table: str) -> tuple[int, str] | None:
    """(row count, md5 of all rows in a stable order) or None when the table does not exist."""
    if not query(conn, 'SELECT to_regclass(%s)', (table,))[0][0]:
        return None
    return query(conn, f"SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {table} t")[0]


SESSION_ENV = dict(os.environ)  # before any test's monkeypatch
_warm_cli = None


def mage_run(
    repo: Path,
    pipeline: str,
    env: dict[str, str],
    variables: dict | None = None,
    test: bool = True,
    timeout: float = 300,
    cold: bool = False,
) -> subprocess.CompletedProcess:
    """`mage run <repo> <pipeline> [--test] [--runtime-vars ...]` as users run it: Mage's own CLI,
    from a server that has its third-party imports done (support/warm_cli.py: ~1 s instead of
    ~10 s before the first block), or, with `cold` (or TAXI_TESTS_COLD_CLI=1), the `mage`
    executable in a new process."""
    global _warm_cli
    cmd = [str(Path(sys.executable).with_name('mage')), 'run', str(repo), pipeline]
    if test:
        cmd.append('--test')
    if variables:
        cmd += ['--runtime-vars', json.dumps(variables)]
    full_env = {**os.environ, **env, 'PYTHONPATH': str(repo), 'COLUMNS': '500'}
    if cold or os.environ.get('TAXI_TESTS_COLD_CLI') == '1':
        done = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=timeout, cwd=repo)
    else:
        if _warm_cli is None:
            from support.warm_cli import WarmCli

            _warm_cli = WarmCli(REPO)
            _warm_cli.start(SESSION_ENV)
        done = _warm_cli.run(cmd, full_env, repo, timeout)
    done.output = ' '.join((done.stdout + done.stderr).split())  # one line: rich wraps tracebacks
    return done


@pytest.fixture(scope='session')
def stack():
    """`make up` from a copy of the checkout in a mode-700 folder, on free ports: PostgreSQL,
    sample mirror, emulators and ONE Mage server for the whole session, with its Prometheus
    endpoint on (test_metrics). At the end `make stop` and `make clean` run, and what they leave
    behind fails the session (an error at teardown)."""
    from support.stack import start_stack, stop_stack

    started = start_stack(ENABLE_PROMETHEUS='1')
    yield started
    problems = stop_stack(started)
    assert not problems, problems


@pytest.fixture()
def db(stack):
    """A connection to the stack's database (autocommit)."""
    conn = stack.postgres().connect()
    conn.autocommit = True
    yield conn
    conn.close()


def undescribed(conn, table: str) -> list[str]:
    """The columns of a table or view that have no COMMENT (the data dictionary's text)."""
    return [
        r[0]
        for r in query(
            conn,
            'SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 '
            'AND NOT attisdropped AND col_description(attrelid, attnum) IS NULL',
            (table,),
        )
    ]
