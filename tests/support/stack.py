"""The stack `make up` starts, started for real from a fresh copy of the checkout.

The copy sits in a mode-700 folder, as `git clone` into `mktemp -d` or into /root leaves it: run
as root, the `postgres` user cannot enter it. Ports are free ones, so a `make run` of the
developer's own keeps running. One stack serves the whole test session (its Mage server too).
"""

from __future__ import annotations

import gzip
import shutil
import signal
import sqlite3
import subprocess
import tempfile
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from support.webhook_receiver import WebhookReceiver

from scripts.mage.mage_api import MageServer
from scripts.stack.local_postgres import Postgres
from scripts.stack.processes import STACK_PORTS, port_open, private_checkout, private_stack_env


@dataclass
class Stack:
    checkout: Path
    env: dict[str, str]
    up_output: str = ''
    ports: dict[str, int] = field(default_factory=dict)
    alerts: WebhookReceiver | None = None  # where Mage posts its alerts (ALERT_WEBHOOK_URL)

    @property
    def mage(self) -> MageServer:
        return MageServer.from_env(f'http://127.0.0.1:{self.ports["MAGE_PORT"]}', self.env)

    def make(self, *target: str, timeout: float = 900, **extra_env: str) -> subprocess.CompletedProcess:
        """`make <target>` in the stack's checkout. If it outlives `timeout`, its Python processes
        are sent SIGABRT first (PYTHONFAULTHANDLER prints where each one was) and the error holds
        that output and the end of Mage's log: a hang says where it hung."""
        proc = subprocess.Popen(
            ['make', '--no-print-directory', *target],
            cwd=self.checkout,
            text=True,
            env={**self.env, 'PYTHONFAULTHANDLER': '1', **extra_env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for child in psutil.Process(proc.pid).children(recursive=True):
                if 'python' in child.name():
                    child.send_signal(signal.SIGABRT)
            try:
                out, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            mage_log = self.checkout / '.data' / 'logs' / 'mage.log'
            tail = mage_log.read_text(errors='replace')[-6000:] if mage_log.exists() else ''
            raise AssertionError(
                f'make {" ".join(target)} still running after {timeout:.0f} s\n'
                f'--- stdout\n{out}\n--- stderr\n{err}\n--- end of mage.log\n{tail}'
            ) from None
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def pids(self) -> set[int]:
        """Every process the stack runs: the process groups in .data/run/*.pid, PostgreSQL's
        postmaster and all their children."""
        roots = [int(p.read_text()) for p in (self.checkout / '.data' / 'run').glob('*.pid')]
        postmaster = self.postgres_datadir() / 'postmaster.pid'
        if postmaster.exists():
            roots.append(int(postmaster.read_text().split()[0]))
        found = set()
        for pid in roots:
            try:
                parent = psutil.Process(pid)
            except psutil.NoSuchProcess:
                continue
            found |= {parent.pid} | {c.pid for c in parent.children(recursive=True)}
        return found

    def serve_synthetic(self, service: str, year: int, month: int, rows: int, source: str = 'course') -> int:
        """A SYNTHETIC month (the project's generator) on the stack's mirror, in the stack's own
        copy of samples/ (never the offline default's): the course's CSV.gz, or for source='tlc'
        the same rows as the TLC's parquet (trip-data/). Returns the rows the course keeps."""
        from course_oracle import course_clean

        from scripts.bench.synthetic_taxi import generate_month
        from scripts.dev.bundle_samples import as_parquet

        name = f'{service}_tripdata_{year}-{month:02d}'
        if source == 'course':
            path = self.checkout / 'samples' / service / f'{name}.csv.gz'
            generate_month(path, rows=rows, year=year, month=month, seed=month)
            return len(course_clean(path, service))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f'{name}.csv.gz'
            generate_month(path, rows=rows, year=year, month=month, seed=month)
            part = self.checkout / 'samples' / 'trip-data' / f'{name}.parquet.part'
            as_parquet(service, gzip.decompress(path.read_bytes()), part)
            part.rename(part.with_suffix(''))  # the file appears whole, as a publication does
            return len(course_clean(path, service))

    def mirror_requests(self, path: str, method: str = 'GET') -> int:
        """How many GETs (or HEADs) of `path` (e.g. /yellow/yellow_tripdata_2019-06.csv.gz) the
        stack's sample mirror has answered, from its access log."""
        log = self.checkout / '.data' / 'logs' / 'mirror.log'
        return log.read_text().count(f'"{method} {path} ')

    def blocks_run_twice(self) -> list[tuple[int, str, int]]:
        """(run id, block, block runs) of each block that has more than one block run in one run,
        read from Mage's own database: Mage makes one per block (scripts/mage/mage_patches/
        block_runs_once.py fixed the race that made two sets, and each ran)."""
        databases = list(self.checkout.glob('.data/mage/*/mage-ai.db'))
        assert databases, f'no Mage database under {self.checkout}/.data/mage: where does Mage keep it now?'
        found = []
        for database in databases:
            with closing(sqlite3.connect(f'file:{database}?mode=ro', uri=True, timeout=30)) as conn:
                found += conn.execute(
                    'SELECT pipeline_run_id, block_uuid, count(*) FROM block_run '
                    'GROUP BY pipeline_run_id, block_uuid HAVING count(*) > 1 ORDER BY 1, 2'
                ).fetchall()
        return found

    def run_story(self, run_id: int, block_runs: list[dict] | None = None) -> str:
        """A run as a failed test should name it: each block run Mage lists for it (id, run, block,
        status; `block_runs` if the caller has them already), then the lines of mage.log on the run
        (how many processes Mage started for it) and any restart of Mage's scheduler."""
        if block_runs is None:
            block_runs = self.mage._get(f'pipeline_runs/{run_id}/block_runs')['block_runs']
        log = (self.checkout / '.data' / 'logs' / 'mage.log').read_text(errors='replace').splitlines()
        said = [
            line[:200] for line in log if f'PipelineRun {run_id}' in line or 'Restarting pipeline scheduler' in line
        ]
        listed = [f'{b["id"]} run {b["pipeline_run_id"]} {b["block_uuid"]} {b["status"]}' for b in block_runs]
        return '\n'.join(listed + said[-20:])

    def postgres(self) -> Postgres:
        """The stack's PostgreSQL server, to stop and start it as an outage would."""
        return Postgres(
            datadir=self.postgres_datadir(),
            port=self.ports['POSTGRES_PORT'],
            user='root',
            password='root',
            dbname='ny_taxi',
        )

    def postgres_datadir(self) -> Path:
        line = next(line for line in self.up_output.splitlines() if line.startswith('[run] PostgreSQL on'))
        return Path(line.split(', data in ')[1].split(' ')[0])

    def listening(self) -> list[tuple[str, int, str]]:
        """(address, port, process name) of every listening TCP and bound UDP socket of the stack."""
        pids = self.pids()
        out = []
        for c in psutil.net_connections(kind='inet'):
            if c.pid in pids and c.laddr and (c.status == psutil.CONN_LISTEN or c.type == 2):
                try:
                    name = psutil.Process(c.pid).name()
                except psutil.NoSuchProcess:  # it ended since (a run forked from the server, with its sockets)
                    continue
                out.append((c.laddr.ip, c.laddr.port, name))
        return out


def start_stack(**extra_env: str) -> Stack:
    """`make up` in a fresh copy of the checkout; `extra_env`: settings as a user's shell sets them."""
    checkout = private_checkout('nyc-taxi-clone-')
    assert checkout.parent.stat().st_mode & 0o777 == 0o700
    env = private_stack_env()
    ports = {name: int(env[name]) for name in STACK_PORTS}
    alerts = WebhookReceiver().__enter__()
    env['ALERT_WEBHOOK_URL'] = alerts.url
    env.update(extra_env)
    stack = Stack(checkout, env, ports=ports, alerts=alerts)
    up = stack.make('up')
    stack.up_output = up.stdout + up.stderr
    if up.returncode != 0:
        stop_stack(stack)
        raise AssertionError(f'make up failed ({up.returncode}):\n{stack.up_output[-4000:]}')
    return stack


def stop_stack(stack: Stack) -> list[str]:
    """`make stop`, then `make clean`; returns what is wrong afterwards (nothing, normally)."""
    problems = []
    try:  # over every run of the session, whatever test made it
        if twice := stack.blocks_run_twice():
            problems.append(f'runs with two block runs of a block (run, block, block runs): {twice}')
    except (AssertionError, sqlite3.Error) as e:  # the stack is stopped all the same
        problems.append(f'block runs not checked: {type(e).__name__}: {e}')
    datadir = stack.postgres_datadir() if '[run] PostgreSQL on' in stack.up_output else None
    stop = stack.make('stop', timeout=180)
    if stop.returncode != 0:
        problems.append(f'make stop failed: {stop.stdout}{stop.stderr}')
    still_open = [name for name, port in stack.ports.items() if port_open(port)]
    if still_open:
        problems.append(f'still listening after make stop: {still_open}')
    clean = stack.make('clean', timeout=180)
    if clean.returncode != 0:
        problems.append(f'make clean failed: {clean.stdout}{clean.stderr}')
    if datadir is not None and datadir.parent.exists():
        problems.append(f'make clean left the database folder {datadir.parent}')
    shutil.rmtree(stack.checkout.parent, ignore_errors=True)
    if stack.alerts:
        stack.alerts.__exit__(None, None, None)
    return problems
