"""The local stack's processes: free ports, waiting for a service, starting and stopping a
process group, the sample-file HTTP mirror, and a copy of the checkout (tests, benchmarks).

Used by `make run` / `make stop` (through scripts/stack/run_local.py) and by the tests' fixtures, so
the tests run against the same real servers that users get.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


class ServiceError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = '127.0.0.1') -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_until(check, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise ServiceError(f'{what} did not come up within {timeout:.0f} s')


# --- a copy of the checkout (tests, benchmarks) -------------------------------------------


def copy_checkout(dest: Path) -> None:
    """The files git knows (tracked, or new and not ignored) as they are in the working tree,
    mtimes kept; the venvs are linked, so `make`'s setup step finds them installed."""
    listed = subprocess.run(
        ['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split('\0')
    for name in filter(None, listed):
        src = REPO_ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    for venv in ('.venv', '.venv-bigquery'):
        (dest / venv).symlink_to(REPO_ROOT / venv, target_is_directory=True)


# Settings a private copy's stack must not take from the shell that starts it: where the
# shell's own stack keeps its data, which files it serves, how it listens, who logs in.
SHELL_ONLY_SETTINGS = (
    'NYC_TLC_BASE_URL',
    'TLC_TRIP_DATA_URL',
    'TAXI_SOURCE',
    'PGDATA_DIR',
    'LOCAL_DATA_DIR',
    'MAGE_DATA_DIR',
    'TAXI_WORK_DIR',
    'PYTHONPATH',
    'MAGE_HOST',
    'IO_CONFIG_PROFILE',
    'REQUIRE_USER_AUTHENTICATION',
    'DEFAULT_OWNER_EMAIL',
    'DEFAULT_OWNER_USERNAME',
    'DEFAULT_OWNER_PASSWORD',
)
STACK_PORTS = ('POSTGRES_PORT', 'MAGE_PORT', 'MIRROR_PORT', 'GCS_PORT', 'BIGQUERY_PORT')


def private_checkout(prefix: str) -> Path:
    """A copy of the checkout (copy_checkout) at <new mode-700 folder>/nyc-taxi-mage, for a stack
    of its own (the tests' `make up`, the benches'). The folder is the caller's to remove."""
    private = Path(tempfile.mkdtemp(prefix=prefix))  # mode 700, like mktemp -d
    checkout = private / 'nyc-taxi-mage'
    checkout.mkdir()
    copy_checkout(checkout)
    return checkout


def private_stack_env() -> dict[str, str]:
    """The environment for `make up` in a private checkout: the shell's, less SHELL_ONLY_SETTINGS,
    with free ports (STACK_PORTS) and the emulators' URLs on them."""
    env = {k: v for k, v in os.environ.items() if k not in SHELL_ONLY_SETTINGS}
    env.update({name: str(free_port()) for name in STACK_PORTS})
    env['GCS_EMULATOR_URL'] = f'http://127.0.0.1:{env["GCS_PORT"]}'
    env['BIGQUERY_EMULATOR_URL'] = f'http://127.0.0.1:{env["BIGQUERY_PORT"]}'
    return env


# --- background processes (HTTP mirror, Mage) --------------------------------------------


def start_process(cmd: list[str], logfile: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    logfile.parent.mkdir(parents=True, exist_ok=True)
    with open(logfile, 'ab') as out:
        return subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=REPO_ROOT,
            start_new_session=True,
        )


def stop_process_group(pid: int, timeout: float = 15) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):  # reap it if it is our own child (else it stays a zombie)
            os.waitpid(pid, os.WNOHANG)
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def start_http_mirror(root: Path, port: int, logfile: Path) -> subprocess.Popen:
    """A plain HTTP server over `root`, laid out like the release: <service>/<file>.csv.gz."""
    proc = start_process(
        [sys.executable, '-m', 'http.server', str(port), '--bind', '127.0.0.1', '--directory', str(root)],
        logfile,
    )
    wait_until(lambda: port_open(port), 15, f'HTTP mirror on port {port}')
    return proc


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False
