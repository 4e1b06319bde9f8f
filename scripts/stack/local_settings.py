"""The local stack's settings and state, read the same way by `make run` and the make targets that
reach its services (backfill, gcp-setup, docs, psql): .env (or dev.env), the shell winning; the
folders under .data/ (LOCAL_DATA_DIR); the pid files of the processes `make run` started; where
Mage listens; and the emulators, started when the profile points at them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from dotenv import dotenv_values

from scripts.mage.start_mage import DEFAULT_HOST
from scripts.stack.local_emulators import start_bigquery_emulator, start_fake_gcs
from scripts.stack.local_postgres import Postgres, cluster_dir
from scripts.stack.processes import REPO_ROOT

DATA = Path(os.environ.get('LOCAL_DATA_DIR') or REPO_ROOT / '.data')
RUN = DATA / 'run'
LOGS = DATA / 'logs'


def mage_port() -> int:
    """MAGE_PORT from the shell, .env or dev.env (once environment() ran), else 6789."""
    return int(os.environ.get('MAGE_PORT') or 6789)


def mirror_port(env=os.environ) -> int:
    return int(env.get('MIRROR_PORT') or 8765)


def say(message: str) -> None:
    print(f'[run] {message}', flush=True)


def environment() -> dict[str, str]:
    env_file = REPO_ROOT / '.env' if (REPO_ROOT / '.env').exists() else REPO_ROOT / 'dev.env'
    env = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    env.update(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get('PYTHONPATH')]))
    env.setdefault('MAGE_DATA_DIR', str(DATA / 'mage'))
    env.setdefault('TAXI_WORK_DIR', str(DATA / 'work'))
    if env.get('SOURCE', 'samples') == 'samples':
        env['NYC_TLC_BASE_URL'] = f'http://127.0.0.1:{mirror_port(env)}'
        env['TLC_TRIP_DATA_URL'] = f'http://127.0.0.1:{mirror_port(env)}/trip-data'
    say(
        f'settings from {env_file.name}; release: {env.get("TAXI_SOURCE") or "course"}, files from '
        f'{env.get("NYC_TLC_BASE_URL") or "the public release"}; '
        f'profile: {env.get("IO_CONFIG_PROFILE", "local")}'
    )
    os.environ.update(env)  # this process talks to the same services as Mage does
    return env


def _port(url: str) -> int:
    return int(url.rsplit(':', 1)[1].split('/')[0])


def start_emulators(env: dict[str, str]) -> None:
    """fake-gcs-server and the BigQuery emulator, when the profile points at them."""
    if env.get('IO_CONFIG_PROFILE', 'local') != 'local':
        return
    gcs_root = DATA / 'gcs'
    if running_pid('gcs') is None:
        t = time.monotonic()
        remember_pid('gcs', start_fake_gcs(gcs_root, _port(env['GCS_EMULATOR_URL']), LOGS / 'gcs.log').pid)
        say(f'GCS emulator on {env["GCS_EMULATOR_URL"]}, objects in {gcs_root} ({time.monotonic() - t:.1f} s)')
    if running_pid('bigquery') is None:
        t = time.monotonic()
        port = _port(env['BIGQUERY_EMULATOR_URL'])
        proc = start_bigquery_emulator(
            DATA / 'bigquery', gcs_root, port, env['GOOGLE_PROJECT_ID'], LOGS / 'bigquery.log'
        )
        remember_pid('bigquery', proc.pid)
        say(f'BigQuery emulator on {env["BIGQUERY_EMULATOR_URL"]} ({time.monotonic() - t:.1f} s)')
    create_bucket(env)


def create_bucket(env: dict[str, str]) -> None:
    from utils.sinks.environment import storage_client

    client = storage_client()
    if client.lookup_bucket(env['GCS_BUCKET']) is None:
        client.create_bucket(env['GCS_BUCKET'])
        say(f'created bucket gs://{env["GCS_BUCKET"]} in the emulator')


def postgres(env: dict[str, str], create: bool = False) -> Postgres:
    configured = env.get('PGDATA_DIR')
    return Postgres(
        datadir=Path(configured) if configured else cluster_dir(DATA / 'postgres', REPO_ROOT, create),
        port=int(env['POSTGRES_PORT']),
        user=env['POSTGRES_USER'],
        password=env['POSTGRES_PASSWORD'],
        dbname=env['POSTGRES_DBNAME'],
    )


def running_pid(name: str) -> int | None:
    path = RUN / f'{name}.pid'
    if not path.exists():
        return None
    pid = int(path.read_text())
    try:
        os.killpg(pid, 0)
        return pid
    except (ProcessLookupError, PermissionError):
        path.unlink()
        return None


def remember_pid(name: str, pid: int) -> None:
    (RUN / f'{name}.pid').write_text(str(pid))


def mage_host() -> str:
    """The address Mage listens on: MAGE_HOST (from the shell or .env), else 127.0.0.1."""
    return os.environ.get('MAGE_HOST', '').strip() or DEFAULT_HOST


def mage_url() -> str:
    """Where this machine reaches the UI (0.0.0.0 and :: include loopback)."""
    host = mage_host() if mage_host() not in ('0.0.0.0', '::', 'localhost') else '127.0.0.1'
    return f'http://{f"[{host}]" if ":" in host else host}:{mage_port()}'
