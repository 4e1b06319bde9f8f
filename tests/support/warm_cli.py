"""`mage run` for the tests, started warm: Mage's own CLI, without paying its imports each time.

`mage run` spends about 10 s of CPU importing before its first block (`python -X importtime`:
95 % of it in third-party packages, scipy, dbt, pandas, sqlalchemy, networkx...; mage_ai's own
modules 0.4 s), and the suite runs the CLI dozens of times. This server does what the Mage server
does for its runs (scripts/mage/start_mage.py): it imports those third-party packages once, then forks
a child for each `mage run`. The child takes the caller's environment, working folder, PYTHONPATH
and arguments, and runs the real `mage` console script of the venv (runpy), its output going to
the caller's files; its exit code is the caller's return code.

What the child imports afresh, as a cold `mage run` does: Mage itself (mage_ai.*, whose settings
and database URL are read from the environment at import time) and the project (utils/ and the
blocks, possibly from another copy of the repo). The list of third-party modules is what
importing Mage's CLI and executors pulls in, found in a throwaway process at start; a module
whose top-level name is also a folder or module of the project is never preloaded.

Tests that must see the CLI cold pass `cold=True` to conftest.mage_run (a plain subprocess), and
TAXI_TESTS_COLD_CLI=1 makes every `mage run` cold (to rule this server out when in doubt).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import runpy
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

MAGE_ENTRY = 'import mage_ai.cli.main, mage_ai.data_preparation.executors.executor_factory'
EXTRA = ('dbt.cli.main', 'dbt.adapters.postgres', 'dbt.adapters.bigquery')  # the dbt blocks' adapters


def third_party_modules(python: str, project: Path) -> list[str]:
    """The modules, in import order, that importing Mage's CLI and executors loads, less Mage's
    own and any whose top-level name the project has (utils, scripts...)."""
    code = f'import json, sys; {MAGE_ENTRY}; print(json.dumps(list(sys.modules)))'
    done = subprocess.run([python, '-c', code], capture_output=True, text=True, cwd=tempfile.gettempdir(), check=True)
    names = json.loads(done.stdout.strip().splitlines()[-1])
    own = {p.stem for p in project.iterdir()}
    return [n for n in names if n.split('.')[0] not in own and not n.startswith('mage_ai')] + list(EXTRA)


def serve(sock_path: str, project: str) -> None:
    loaded = 0
    for name in third_party_modules(sys.executable, Path(project)):
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
            loaded += 1
        except BaseException:  # noqa: BLE001 - a module that cannot be imported on its own: the child will
            pass
    assert not any(m.split('.')[0] == 'mage_ai' for m in sys.modules), 'Mage itself must be imported per run'
    server = socket.socket(socket.AF_UNIX)
    server.bind(sock_path)
    server.listen(1)
    print(json.dumps({'ready': loaded}), flush=True)
    while True:
        conn, _ = server.accept()
        with conn, contextlib.suppress(OSError):  # a caller that timed out has gone: serve the next one
            serve_one(server, conn)


def serve_one(server: socket.socket, conn: socket.socket) -> None:
    """One `mage run`: fork, tell the caller the child's pid, wait for it, tell its exit code."""
    with conn.makefile('rw') as stream:
        request = json.loads(stream.readline())
        pid = os.fork()
        if pid == 0:
            server.close()
            conn.close()
            run_child(request)  # never returns
        try:
            stream.write(json.dumps({'pid': pid}) + '\n')
            stream.flush()
        finally:
            _, status = os.waitpid(pid, 0)
        stream.write(json.dumps({'returncode': os.waitstatus_to_exitcode(status)}) + '\n')
        stream.flush()


def run_child(request: dict) -> None:
    """In the forked child: become the caller's `mage run`, then exit with its code."""
    code = 1
    try:
        os.setsid()  # the caller kills the group on a timeout
        os.environ.clear()
        os.environ.update(request['env'])
        os.chdir(request['cwd'])
        script = request['argv'][0]
        extra = [p for p in request['env'].get('PYTHONPATH', '').split(os.pathsep) if p]
        sys.path[:] = [str(Path(script).parent), *extra, *[p for p in sys.path[1:] if p not in extra]]
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, path in ((1, request['stdout']), (2, request['stderr'])):
            out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(out, fd)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        sys.argv = list(request['argv'])
        try:
            runpy.run_path(script, run_name='__main__')
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if not isinstance(e.code, (int, type(None))):
                print(e.code, file=sys.stderr)
        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001 - whatever happens, the child must not return into the server
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a closed stream must not keep the child from exiting
                stream.flush()
        os._exit(code)


class WarmCli:
    """The client: start() once, run() per `mage run`, stop() at the end of the session."""

    def __init__(self, project: Path, python: str = sys.executable):
        self.project, self.python = project, python
        self.root = Path(tempfile.mkdtemp(prefix='warm-mage-'))
        self.sock = self.root / 'cli.sock'
        self.proc: subprocess.Popen | None = None

    def start(self, env: dict[str, str]) -> None:
        """`env`: the environment the session started with (a test's settings are the child's own)."""
        env = {k: v for k, v in env.items() if k != 'PYTHONPATH'}
        self.proc = subprocess.Popen(
            [self.python, __file__, str(self.sock), str(self.project)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=open(self.root / 'server.log', 'wb'),  # noqa: SIM115 - the server writes to it for its life
            text=True,
            start_new_session=True,
        )
        line = self.proc.stdout.readline()  # blocks until the imports are done (or the server died)
        if not line.startswith('{"ready"'):
            log = (self.root / 'server.log').read_text()
            raise RuntimeError(f'the warm `mage run` server did not start: {log[-3000:]}')

    def run(self, argv: list[str], env: dict[str, str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
        out, err = self.root / 'stdout', self.root / 'stderr'
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(str(self.sock))
            stream = conn.makefile('rw')
            stream.write(
                json.dumps({'argv': argv, 'env': env, 'cwd': str(cwd), 'stdout': str(out), 'stderr': str(err)}) + '\n'
            )
            stream.flush()
            pid = json.loads(stream.readline())['pid']
            conn.settimeout(timeout)
            try:
                answer = stream.readline()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)  # the server reaps it; its answer finds no one
                raise subprocess.TimeoutExpired(
                    argv, timeout, out.read_text(errors='replace'), err.read_text(errors='replace')
                ) from None
        returncode = json.loads(answer)['returncode']
        return subprocess.CompletedProcess(
            argv, returncode, out.read_text(errors='replace'), err.read_text(errors='replace')
        )

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        for path in self.root.iterdir():
            path.unlink()
        self.root.rmdir()


if __name__ == '__main__':
    serve(sys.argv[1], sys.argv[2])
