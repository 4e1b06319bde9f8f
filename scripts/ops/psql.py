"""`make psql`: psql on the project's database with the settings `make run` uses (.env or
dev.env, then the environment): host, port, user, password, database, and the schema first on
the search path. `make psql SQL='SELECT …'` runs one statement and returns.

    make psql SQL="SELECT source_month, count(*) FROM yellow_taxi_data GROUP BY 1"
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from scripts.stack.local_postgres import postgres_bindir
from scripts.stack.local_settings import environment


def psql_command(env: dict[str, str], sql: str = '') -> tuple[list[str], dict[str, str]]:
    """The psql command line and its environment (the password goes in PGPASSWORD, never argv)."""
    psql = shutil.which('psql') or str(postgres_bindir() / 'psql')
    cmd = [
        psql,
        '-h',
        env.get('POSTGRES_HOST', '127.0.0.1'),
        '-p',
        env.get('POSTGRES_PORT', '5432'),
        '-U',
        env.get('POSTGRES_USER', 'root'),
        '-d',
        env.get('POSTGRES_DBNAME', 'ny_taxi'),
    ]
    if sql:
        cmd += ['-v', 'ON_ERROR_STOP=1', '-c', sql]
    schema = env.get('POSTGRES_SCHEMA', 'ny_taxi')
    return cmd, {**env, 'PGPASSWORD': env.get('POSTGRES_PASSWORD', ''), 'PGOPTIONS': f'-c search_path={schema},public'}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sql', default=os.environ.get('SQL', ''), help='one statement to run (make psql SQL=...)')
    parser.add_argument('--db', default=os.environ.get('DB', ''), help='another database (make psql DB=course)')
    args = parser.parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):  # the settings line; stdout is psql's alone
        env = environment()
    if args.db.strip():  # DB=course: the course's profiles' database (docs/course.md)
        env = {**env, 'POSTGRES_DBNAME': args.db.strip()}
    cmd, psql_env = psql_command(env, args.sql.strip())
    os.execvpe(cmd[0], cmd, psql_env)


if __name__ == '__main__':
    sys.exit(main())
