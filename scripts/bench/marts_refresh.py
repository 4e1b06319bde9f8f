"""`make bench-marts` (and the end of `make bench`): what one month's mart refresh costs when the
marts already hold 1 month and when they hold 12, in PostgreSQL and in the BigQuery emulator.

SYNTHETIC months (scripts/bench/synthetic_taxi.py, the release shape; yellow 2019-01..12, --rows each)
go through the pipeline's own steps (parse, clean) and its loaders (utils/sinks/postgres_load,
utils/sinks/bigquery_load) into two schemas / datasets of each warehouse: `one_month` (2019-01) and
`many_months` (2019-01..12, or --months of them), with the real zone lookup (samples/misc). The dbt project is
built once per month there, so the marts hold 1 and 12 months. Then 2019-01 is refreshed
--repeat times in each: exactly what the pipelines' dbt block runs (`dbt build --select
taxi_marts`, models then tests), in this process (dbt imported once, as in a Mage run). Target:
12 months within 1.5 x 1 month, a month's refresh reads and writes the month, not the tables.
dbt's own cost per run is measured as well: `dbt parse` (what every build does first, the vars
change each run) and the import of the dbt adapter in a fresh process.

    .venv/bin/python scripts/bench/marts_refresh.py [--rows 100000] [--repeat 3] [--months 12]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from scripts.bench.synthetic_taxi import clean_synthetic_month  # noqa: E402
from scripts.stack.local_emulators import cloud_emulators  # noqa: E402
from scripts.stack.local_postgres import Postgres  # noqa: E402
from scripts.stack.processes import free_port  # noqa: E402

PROJECT, BUCKET, DBT_PROJECT = 'local-project', 'bench-marts', REPO_ROOT / 'dbt' / 'taxi_marts'
SCHEMAS: dict[str, list[int]] = {}  # schema -> the months its marts hold (main(): one_month, many_months)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rows', type=int, default=100_000, help='rows of each synthetic month')
    parser.add_argument('--repeat', type=int, default=3, help='refreshes of the month in each schema')
    parser.add_argument('--months', type=int, default=12, help='months the larger marts hold (2..12)')
    args = parser.parse_args()
    if not 2 <= args.months <= 12:
        parser.error(f'--months {args.months}: give 2..12')
    SCHEMAS.update(one_month=[1], many_months=list(range(1, args.months + 1)))

    root = Path(tempfile.mkdtemp(prefix='bench-marts-'))
    root.chmod(0o755)
    pg = Postgres(datadir=root / 'pg', port=free_port(), user='bench', password='bench', dbname='ny_taxi')
    try:
        with cloud_emulators(root, PROJECT) as settings:
            pg.start()
            os.environ.update(
                {
                    **settings,
                    'POSTGRES_HOST': '127.0.0.1',
                    'POSTGRES_PORT': str(pg.port),
                    'POSTGRES_USER': pg.user,
                    'POSTGRES_PASSWORD': pg.password,
                    'POSTGRES_DBNAME': pg.dbname,
                    'POSTGRES_SCHEMA': 'unused',
                    'GCS_BUCKET': BUCKET,
                    'BIGQUERY_DATASET': 'unused',
                    'DBT_SEND_ANONYMOUS_USAGE_STATS': 'false',
                }
            )
            return run(root, pg, args.rows, args.repeat)
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


def load_sources(root: Path, pg: Postgres, rows: int) -> None:
    """The synthetic months and the zone lookup into each schema / dataset."""
    import pyarrow.parquet as pq

    from utils.domain.taxi_schema import schema_for
    from utils.domain.zones import read_zone_lookup
    from utils.sinks import bigquery_load, gcs_io
    from utils.sinks.environment import bigquery_client, storage_client
    from utils.sinks.postgres_load import replace_month
    from utils.steps.marts import warehouse

    yellow, client = schema_for('yellow'), bigquery_client()
    bucket = storage_client().create_bucket(BUCKET)
    zones = read_zone_lookup(REPO_ROOT / 'samples' / 'misc' / 'taxi_zone_lookup.csv', 'samples/misc')
    pq.write_table(zones, root / 'zones.parquet')
    for m in sorted({m for months in SCHEMAS.values() for m in months}):
        clean = clean_synthetic_month(root, m, rows)
        uri = gcs_io.upload_file(bucket, clean, f'nyc_taxi/yellow/2019-{m:02d}.parquet')
        for schema, months in SCHEMAS.items():
            if m in months:
                with closing(pg.connect()) as conn:
                    replace_month(
                        conn,
                        schema_name=schema,
                        taxi_schema=yellow,
                        month=date(2019, m, 1),
                        batches=pq.read_table(clean).to_batches(),
                    )
                bigquery_load.load_month(
                    client,
                    project=PROJECT,
                    dataset=schema,
                    location='US',
                    taxi_schema=yellow,
                    month=date(2019, m, 1),
                    uri=uri,
                )
    for schema in SCHEMAS:  # the lookup as the marts' blocks write it (utils/steps/marts.py), per schema / dataset
        os.environ.update(POSTGRES_SCHEMA=schema, BIGQUERY_DATASET=schema)
        for pipeline in ('postgres_marts', 'bigquery_marts'):
            warehouse(pipeline).replace_zone_lookup(str(root / 'zones.parquet'))


def run(root: Path, pg: Postgres, rows: int, repeat: int) -> int:
    from dbt.cli.main import dbtRunner

    load_sources(root, pg, rows)
    dbt = dbtRunner()

    def build(target: str, schema: str, month: int) -> float:
        os.environ['POSTGRES_SCHEMA' if target == 'postgres' else 'BIGQUERY_DATASET'] = schema
        started = time.perf_counter()
        done = dbt.invoke(
            [
                'build',
                '--select',
                'taxi_marts',
                '--project-dir',
                str(DBT_PROJECT),
                '--profiles-dir',
                str(DBT_PROJECT),
                '--target',
                target,
                '--quiet',
                '--target-path',
                str(root / 'dbt' / target / schema),
                '--log-path',
                str(root / 'dbt-logs'),
                '--vars',
                json.dumps({'service': 'yellow', 'year': 2019, 'month': month}),
            ]
        )
        if not done.success:
            raise RuntimeError(f'dbt build of {target} {schema} 2019-{month:02d} failed: see {root / "dbt-logs"}')
        return time.perf_counter() - started

    runs = itertools.count(1)

    def parse(target: str) -> float:  # other vars each time, as each Mage run passes: a full parse
        started = time.perf_counter()
        dbt.invoke(
            [
                'parse',
                '--project-dir',
                str(DBT_PROJECT),
                '--profiles-dir',
                str(DBT_PROJECT),
                '--quiet',
                '--target',
                target,
                '--target-path',
                str(root / 'dbt' / 'parse'),
                '--log-path',
                str(root / 'dbt-logs'),
                '--vars',
                json.dumps({'service': 'yellow', 'year': 2019, 'month': next(runs) % 12 + 1}),
            ]
        )
        return time.perf_counter() - started

    results, held = {}, {}
    for target in ('postgres', 'bigquery'):
        for schema, months in SCHEMAS.items():
            for m in months:
                build(target, schema, m)
            held[target, schema] = fact_rows(pg, target, schema)
            results[target, schema] = [build(target, schema, 1) for _ in range(repeat)]
            after = fact_rows(pg, target, schema)
            assert after == held[target, schema] > 0, (
                f'{target} {schema}: {held[target, schema]} rows before, {after} after'
            )
        results[target, 'parse'] = [parse(target) for _ in range(repeat)]
    imports = {adapter: import_seconds(adapter) for adapter in ('postgres', 'bigquery')}

    print(
        f'SYNTHETIC yellow months of {rows:,} rows (the release shape); month 2019-01 refreshed {repeat} times '
        '(dbt build --select taxi_marts: the models, then their tests)'
    )
    print('| warehouse | marts hold | rows in fact_trips | refresh one month: median s | runs s |')
    print('|---|---:|---:|---:|---|')
    for target in ('postgres', 'bigquery'):
        for schema, months in SCHEMAS.items():
            times = results[target, schema]
            print(
                f'| {target} | {len(months)} month(s) | {held[target, schema]:,} | {statistics.median(times):.2f} | '
                f'{", ".join(f"{t:.2f}" for t in times)} |'
            )
    for target in ('postgres', 'bigquery'):
        ratio = statistics.median(results[target, 'many_months']) / statistics.median(results[target, 'one_month'])
        print(f'{target}: {len(SCHEMAS["many_months"])} months / 1 month: {ratio:.2f} x (target <= 1.5)')
    for target in ('postgres', 'bigquery'):
        print(
            f'dbt start-up, {target}: import of the adapter in a fresh process {imports[target]:.1f} s (once per '
            f'Mage run); dbt parse {statistics.median(results[target, "parse"]):.2f} s (every build)'
        )
    return 0


def fact_rows(pg: Postgres, target: str, schema: str) -> int:
    if target == 'postgres':
        with closing(pg.connect()) as conn, conn.cursor() as cur:
            cur.execute(f'SELECT count(*) FROM {schema}.fact_trips')
            return cur.fetchone()[0]
    from utils.sinks.environment import bigquery_client

    return next(iter(bigquery_client().query(f'SELECT count(*) AS n FROM `{PROJECT}.{schema}.fact_trips`').result())).n


def import_seconds(adapter: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, '-W', 'ignore', '-c', f'import dbt.adapters.{adapter}.impl'], check=True)
    return time.perf_counter() - started


if __name__ == '__main__':
    sys.exit(main())
