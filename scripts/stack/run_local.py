"""`make run` without Docker: local PostgreSQL + sample mirror + Mage UI, then the pipelines.

    python scripts/stack/run_local.py up [--detach]   start (or reuse) everything, run the pipelines
    python scripts/stack/run_local.py down            stop everything this script started
    python scripts/stack/run_local.py status
    python scripts/stack/run_local.py clean           stop, then remove the local data (keeps .venv)

Settings come from .env (or dev.env when there is no .env); variables already set in the
environment win. SOURCE=public runs on the full public release files instead of samples/.
Local state (database, Mage runs, work files, logs, pid files) lives in .data/ (LOCAL_DATA_DIR).
Run as root from a folder the `postgres` user cannot enter, the database goes to a folder of that
user's instead (scripts/stack/local_postgres.cluster_dir); `up` and `status` say where.

Every service listens on 127.0.0.1 only. MAGE_HOST exposes the UI on purpose, and only with
REQUIRE_USER_AUTHENTICATION=1 (scripts/mage/start_mage.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from scripts.mage.mage_api import MageServer, RunResult  # noqa: E402
from scripts.mage.mage_session import MageRunError  # noqa: E402
from scripts.mage.mage_version import mage_version_problem  # noqa: E402
from scripts.mage.start_mage import check_exposure, is_loopback, owner_email  # noqa: E402
from scripts.stack.local_postgres import Postgres  # noqa: E402
from scripts.stack.local_settings import (  # noqa: E402
    DATA,
    LOGS,
    RUN,
    environment,
    mage_host,
    mage_port,
    mage_url,
    mirror_port,
    postgres,
    remember_pid,
    running_pid,
    say,
    start_emulators,
)
from scripts.stack.processes import (  # noqa: E402
    ServiceError,
    http_ok,
    port_open,
    start_http_mirror,
    start_process,
    stop_process_group,
    wait_until,
)

# What `make run` runs: each pipeline with its variables, in order. The loads of api_to_postgres
# and gcs_to_bigquery start their marts' refresh themselves (utils/steps/marts_follow.py): make run
# waits for it and says how it went.
MONTHS = [{'service': 'yellow', 'year': 2021, 'month': 1}, {'service': 'green', 'year': 2020, 'month': 10}]
RUNS: list[tuple[str, dict]] = [
    (pipeline, month) for pipeline in ('api_to_postgres', 'api_to_gcs', 'gcs_to_bigquery') for month in MONTHS
]
# The homework (green_taxi_etl): its quarter, 2020-10..12, offline too (samples/green/: October is
# the course's file, November and December a student's conversion of the course's, see
# samples/PROVENANCE.md).
HOMEWORK = ('green_taxi_etl', {'year': 2020, 'months': [10, 11, 12]})
# Module 3: the BigQuery tables over green's partitioned folder, which api_to_gcs has just written.
MODULE_3 = ('partitioned_to_bigquery', {'service': 'green'})


def runs() -> list[tuple[str, dict]]:
    return [*RUNS, MODULE_3, HOMEWORK]


SERVICES = ('mage', 'bigquery', 'gcs', 'mirror')


def start_all(env: dict[str, str]) -> MageServer:
    """Start (or reuse) PostgreSQL, the sample mirror, the emulators and Mage; return Mage."""
    if version_problem := mage_version_problem(env):
        raise ServiceError(f'{version_problem}; nothing was started')
    problem, saved = check_exposure('MAGE_HOST', mage_host(), str(REPO_ROOT), env)
    if problem:
        raise ServiceError(f'{problem}; nothing was started')
    if saved:  # on the terminal, once; never in a log
        say(
            f'generated a password for the Mage login {owner_email(env)}: {env["DEFAULT_OWNER_PASSWORD"]} '
            f'(saved as DEFAULT_OWNER_PASSWORD in {saved}, mode 0600)'
        )
    for d in (RUN, LOGS):
        d.mkdir(parents=True, exist_ok=True)

    t = time.monotonic()
    pg = postgres(env, create=True)
    pg.start()
    say(f'PostgreSQL on 127.0.0.1:{pg.port}, data in {pg.datadir}{_outside(pg)} ({time.monotonic() - t:.1f} s)')

    if env.get('SOURCE', 'samples') == 'samples':
        if running_pid('mirror') is None:
            remember_pid('mirror', start_http_mirror(REPO_ROOT / 'samples', mirror_port(), LOGS / 'mirror.log').pid)
        say(f'sample mirror on {env["NYC_TLC_BASE_URL"]} serving samples/')

    start_emulators(env)

    mage = MageServer.from_env(mage_url(), env)
    env.setdefault('MAGE_PUBLIC_HOST', mage_url())  # the run links in alerts point here
    if running_pid('mage') is None:
        if port_open(mage_port()):
            raise ServiceError(f'port {mage_port()} is taken by another program; set MAGE_PORT')
        t = time.monotonic()
        cmd = [
            sys.executable,
            str(REPO_ROOT / 'scripts' / 'mage' / 'start_mage.py'),
            str(REPO_ROOT),
            '--host',
            mage_host(),
            '--port',
            str(mage_port()),
        ]
        proc = start_process(cmd, LOGS / 'mage.log', env)
        remember_pid('mage', proc.pid)
        wait_until(
            lambda: mage.ready() or proc.poll() is not None,
            180,
            f'Mage on port {mage_port()} (log: {LOGS / "mage.log"})',
            0.5,
        )
        if proc.poll() is not None:
            last = (LOGS / 'mage.log').read_text(errors='replace').strip().splitlines()[-1:] or ['']
            raise ServiceError(f'Mage stopped as it started (exit {proc.returncode}): {last[0]}')
        say(f'Mage UI on {mage_url()}{_exposed()} ({time.monotonic() - t:.0f} s to start)')
    else:
        say(f'Mage UI already running on {mage_url()}')
    mage.wait_for_database()
    return mage


def up(detach: bool) -> int:
    env = environment()
    mage = start_all(env)
    failed = 0
    for pipeline_uuid, variables in runs():
        if env.get('PIPELINES') and pipeline_uuid not in env['PIPELINES'].split(','):
            continue
        load, *refresh = mage.run_and_its_refresh(pipeline_uuid, variables)  # the marts run the load started
        for result in (load, *refresh):
            started_by = f' (started by {pipeline_uuid} run {load.run_id})' if result is not load else ''
            say(('OK   ' if result.ok else 'FAIL ') + result.describe() + started_by)
            for line in [] if result.ok else why_failed(mage, result):
                say(f'       {line}')
            failed += not result.ok
    if failed:
        say(f'{failed} run(s) failed: open the run in the UI for the block logs')

    if detach:
        say('services keep running; stop them with `make stop`')
        return 1 if failed else 0
    say(f'open {mage_url()} - Ctrl-C stops every service')
    try:
        while running_pid('mage') is not None:
            time.sleep(1)
        say('Mage stopped')
    except KeyboardInterrupt:
        pass
    finally:
        down()
    return 1 if failed else 0


def why_failed(mage: MageServer, result: RunResult, most: int = 20) -> list[str]:
    """A failed run's reason on the terminal: its failed block's ERROR records (for a dbt block,
    dbt's own error lines), else the block's last exception line."""
    if not result.failed_blocks:
        return []
    errors = mage.error_records(result.pipeline_uuid, result.run_id, result.failed_blocks[0])
    lines = [line for record in errors for line in record.strip().splitlines() if line.strip()]
    return lines[:most] or [result.error or '']


def _outside(pg: Postgres) -> str:
    if pg.datadir.is_relative_to(REPO_ROOT) or os.environ.get('PGDATA_DIR'):
        return ''
    return f' (outside the checkout: the postgres user cannot enter {REPO_ROOT}; `make clean` removes it)'


def _exposed() -> str:
    if is_loopback(mage_host()):
        return ', this machine only'
    return f', exposed on {mage_host()} (MAGE_HOST) with the login on'


def down() -> int:
    for name in SERVICES:
        pid = running_pid(name)
        if pid is not None:
            stop_process_group(pid)
            say(f'stopped {name}')
        (RUN / f'{name}.pid').unlink(missing_ok=True)
    env = environment()
    pg = postgres(env)
    if pg.datadir.exists() and pg.running():
        pg.stop()
        say('stopped PostgreSQL')
    return 0


def status() -> int:
    env = environment()
    pg = postgres(env)
    up = pg.datadir.exists() and pg.running()
    say(
        f'PostgreSQL: {"running on " + env["POSTGRES_HOST"] + ":" + env["POSTGRES_PORT"] if up else "stopped"}, '
        f'data in {pg.datadir}'
    )
    if env.get('SOURCE', 'samples') == 'samples':
        mirror = env['NYC_TLC_BASE_URL']
        say(f'mirror: {"running on " + mirror if http_ok(mirror + "/") else "stopped"}')
    for name, url in (('gcs', env.get('GCS_EMULATOR_URL')), ('bigquery', env.get('BIGQUERY_EMULATOR_URL'))):
        say(f'{name} emulator: {"running on " + str(url) if running_pid(name) else "stopped"}')
    say(f'Mage: {"running on " + mage_url() if MageServer(mage_url()).ready() else "stopped"}')
    return 0


def clean() -> int:
    """Stop everything, then remove .data and, if it lives outside, the database (keeps .venv)."""
    down()
    pg = postgres(environment())
    folders = [DATA]
    if not os.environ.get('PGDATA_DIR') and not pg.datadir.is_relative_to(DATA):
        folders.append(pg.datadir.parent)  # the postgres user's folder for this checkout
    for folder in folders:
        if folder.exists():
            shutil.rmtree(folder)
            say(f'removed {folder}')
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('command', choices=['up', 'down', 'status', 'clean'])
    parser.add_argument('--detach', action='store_true', help='leave the services running and return')
    args = parser.parse_args()
    try:
        if args.command == 'up':
            return up(args.detach)
        return {'down': down, 'status': status, 'clean': clean}[args.command]()
    except (ServiceError, MageRunError) as e:
        say(f'error: {e}')
        return 2


if __name__ == '__main__':
    sys.exit(main())
