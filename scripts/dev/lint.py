"""`make lint`: the house's checks, each named with what it found; exits non-zero if any failed.

    ruff check, ruff format --check   style, unused code, imports (pyproject.toml)
    mypy                              types (pyproject.toml; the domain modules fully typed)
    layers                            which code may import which (scripts/dev/check_layers.py)
    pipeline files                    pipelines/*/metadata.yaml in the form Mage writes them back
    actionlint, zizmor                the GitHub Actions workflow (.github/workflows/): its syntax and
                                      expressions, and its security (zizmor --offline: pinned actions,
                                      no persisted credentials, least permissions)
    sqlfluff                          the dbt models as dbt compiles them (dbt/taxi_marts/.sqlfluff),
                                      once per target in its dialect (postgres, bigquery) and per
                                      service's fact table (yellow: fact_trips, fhv: fact_fhv_trips);
                                      dbt's templater connects as dbt compile does, so it gets a
                                      throwaway PostgreSQL and the BigQuery emulator

`--fix` lets ruff fix and format what it can first. `--sql-if-changed` (make test-quick) runs
sqlfluff only when a file under dbt/ differs from the last commit or its upstream: it is most of
the lint's time. The pre-commit hooks run the same commands.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from scripts.stack.local_emulators import cloud_emulators  # noqa: E402
from scripts.stack.local_postgres import Postgres  # noqa: E402
from scripts.stack.processes import free_port  # noqa: E402

BIN = Path(sys.executable).parent
DBT_PROJECT = REPO_ROOT / 'dbt' / 'taxi_marts'
SERVICES_LINTED = ('yellow', 'fhv')  # one of each fact table (fact_trips, fact_fhv_trips)
WORKFLOWS = sorted(str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / '.github' / 'workflows').glob('*.yml'))
TARGETS = ('postgres', 'bigquery')  # profiles.yml's targets; each is linted in its own dialect


def run(name: str, cmd: list[str], cwd: Path = REPO_ROOT, env: dict[str, str] | None = None) -> bool:
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    ok = done.returncode == 0
    print(f'[lint] {"ok  " if ok else "FAIL"} {name} ({time.monotonic() - started:.1f} s)', flush=True)
    if not ok:
        print((done.stdout + done.stderr).strip(), flush=True)
    return ok


@contextlib.contextmanager
def throwaway_warehouses() -> Iterator[dict[str, str]]:
    """A PostgreSQL of its own and the BigQuery emulator for dbt's templater (it opens a
    connection, as dbt compile does); yields the settings profiles.yml reads."""
    with tempfile.TemporaryDirectory(prefix='lint-') as tmp:
        os.chmod(tmp, 0o755)  # the postgres user enters it when this runs as root
        pg = Postgres(Path(tmp) / 'postgres', free_port()).start()
        try:
            with cloud_emulators(Path(tmp) / 'google', 'lint-project') as google:
                yield {
                    **google,
                    'BIGQUERY_DATASET': 'ny_taxi',
                    'POSTGRES_HOST': '127.0.0.1',
                    'POSTGRES_PORT': str(pg.port),
                    'POSTGRES_USER': pg.user,
                    'POSTGRES_PASSWORD': pg.password,
                    'POSTGRES_DBNAME': pg.dbname,
                    'POSTGRES_SCHEMA': 'ny_taxi',
                    'PYTHONWARNINGS': 'ignore::FutureWarning',  # google-cloud-*'s notes on Python versions
                }
        finally:
            pg.stop()


def sqlfluff(target: str, service: str, settings: dict[str, str], project: Path = DBT_PROJECT) -> bool:
    with tempfile.NamedTemporaryFile('w', suffix='.sqlfluff', delete=False) as extra:
        extra.write(
            f'[sqlfluff]\ndialect = {target}\n[sqlfluff:templater:dbt]\ntarget = {target}\n'
            f'[sqlfluff:templater:dbt:context]\nservice = {service}\n'
        )
    try:
        return run(
            f'sqlfluff, the dbt models of {service} on {target}',
            [str(BIN / 'sqlfluff'), 'lint', '--config', extra.name, '--disable-progress-bar', 'models', 'tests'],
            cwd=project,
            env={**os.environ, **settings},
        )
    finally:
        os.unlink(extra.name)


def dbt_changes() -> list[str]:
    """The files under dbt/ that differ from the last commit (not committed yet, untracked too) or
    from the branch's upstream when it has one (committed, not pushed); every file when this is
    not a git checkout (nothing to compare with)."""

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(['git', *args], cwd=REPO_ROOT, capture_output=True, text=True)

    status = git('status', '--porcelain', '--', 'dbt/')
    if status.returncode != 0:
        return ['dbt/ (not a git checkout)']
    changed = [line[3:] for line in status.stdout.splitlines()]
    upstream = git('diff', '--name-only', '@{upstream}', '--', 'dbt/')
    if upstream.returncode == 0:
        changed += upstream.stdout.splitlines()
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--fix', action='store_true', help='let ruff fix and format what it can first')
    parser.add_argument(
        '--no-sql', action='store_true', help='skip sqlfluff (it starts a PostgreSQL and the BigQuery emulator)'
    )
    parser.add_argument('--sql-only', action='store_true', help='sqlfluff only (the pre-commit hook for dbt/)')
    parser.add_argument(
        '--sql-if-changed',
        action='store_true',
        help="sqlfluff only when dbt/ differs from the commit (or its upstream's): make test-quick's lint",
    )
    parser.add_argument(
        '--dbt-changed',
        action='store_true',
        help="only say whether dbt/ differs from the commit (or its upstream's): exit 0 if it does, 1 if not "
        '(make test-quick runs the dbt compile test then)',
    )
    args = parser.parse_args(argv)
    if args.dbt_changed:
        if dbt_changes():
            return 0
        print('[test-quick] skip the dbt compile test: nothing under dbt/ changed (make test runs it)', file=sys.stderr)
        return 1
    if args.sql_if_changed:
        changed = dbt_changes()
        if changed:
            print(f'[lint] sqlfluff: {len(changed)} file(s) under dbt/ changed, e.g. {changed[0]}', flush=True)
        else:
            print('[lint] skip sqlfluff: nothing under dbt/ changed (make lint and make test run it)', flush=True)
            args.no_sql = True
    ruff = str(BIN / 'ruff')
    if args.fix:
        subprocess.run([ruff, 'check', '--fix', '.'], cwd=REPO_ROOT)
        subprocess.run([ruff, 'format', '.'], cwd=REPO_ROOT)
    results = (
        []
        if args.sql_only
        else [
            run('ruff check', [ruff, 'check', '.']),
            run('ruff format --check', [ruff, 'format', '--check', '.']),
            run('mypy', [str(BIN / 'mypy')]),
            run('layers', [sys.executable, 'scripts/dev/check_layers.py']),
            run('pipeline files', [sys.executable, 'scripts/mage/pipeline_files.py', '--check']),
            run('actionlint', [str(BIN / 'actionlint'), *WORKFLOWS]),
            run('zizmor', [str(BIN / 'zizmor'), '--offline', '--quiet', *WORKFLOWS]),
        ]
    )
    if not args.no_sql:
        runs = [(target, service) for target in TARGETS for service in SERVICES_LINTED]
        with throwaway_warehouses() as settings, ThreadPoolExecutor(2) as pool:  # two at a time, on 2 cores
            results += pool.map(lambda job: sqlfluff(job[0], job[1], settings), runs)
    failed = results.count(False)
    print(f'[lint] {"all checks passed" if not failed else f"{failed} of {len(results)} checks failed"}', flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
