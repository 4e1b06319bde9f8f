"""PostgreSQL without Docker: a cluster of its own per checkout, on 127.0.0.1 only, started with
Debian's server binaries (`make run`, the tests, the benches and the SQL lint)."""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from scripts.stack.processes import ServiceError, port_open

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
