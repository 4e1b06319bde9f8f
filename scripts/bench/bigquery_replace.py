"""`make bench-bigquery`: what replacing one month costs in BigQuery when the table holds 1 month
and when it holds 12 (on the local BigQuery emulator, DuckDB behind the BigQuery API).

SYNTHETIC months (scripts/bench/synthetic_taxi.py, the release shape; yellow 2019-01..12, --rows each)
go through the pipeline's own steps (parse, clean) to parquet in the GCS emulator, then
utils/sinks/bigquery_load.load_month loads them: 1 month into one dataset, 12 into another. Then month
2019-01 is replaced --repeat times in each; the medians are compared (target: 12 months within
1.5 x 1 month: a month's replacement reads and writes the month, not the table).

    .venv/bin/python scripts/bench/bigquery_replace.py [--rows 200000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from scripts.bench.synthetic_taxi import clean_synthetic_month  # noqa: E402
from scripts.stack.local_emulators import cloud_emulators  # noqa: E402
from utils.domain.progress import plural  # noqa: E402

PROJECT, BUCKET = 'local-project', 'bench-bigquery'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rows', type=int, default=200_000, help='rows of each synthetic month')
    parser.add_argument('--repeat', type=int, default=5, help='replacements of the month in each table')
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix='bench-bigquery-'))
    root.chmod(0o755)
    with cloud_emulators(root, PROJECT) as settings:
        os.environ.update({**settings, 'GCS_BUCKET': BUCKET, 'BIGQUERY_DATASET': 'unused'})
        return run(root, args.rows, args.repeat)


def run(root: Path, rows: int, repeat: int) -> int:
    from utils.domain.taxi_schema import schema_for
    from utils.sinks import bigquery_load, gcs_io
    from utils.sinks.environment import bigquery_client, storage_client

    yellow = schema_for('yellow')
    bucket = storage_client().create_bucket(BUCKET)
    client = bigquery_client()
    uris = {}
    for m in range(1, 13):
        uris[m] = gcs_io.upload_file(
            bucket, clean_synthetic_month(root, m, rows), f'nyc_taxi/yellow/2019-{m:02d}.parquet'
        )

    def load(dataset: str, month: int) -> float:
        started = time.perf_counter()
        bigquery_load.load_month(
            client,
            project=PROJECT,
            dataset=dataset,
            location='US',
            taxi_schema=yellow,
            month=date(2019, month, 1),
            uri=uris[month],
        )
        return time.perf_counter() - started

    results = {}
    for dataset, months in (('one_month', [1]), ('twelve_months', list(range(1, 13)))):
        for m in months:
            load(dataset, m)
        table = f'{PROJECT}.{dataset}.yellow_tripdata'
        held = next(iter(client.query(f'SELECT count(*) AS n FROM `{table}`').result())).n
        times = [load(dataset, 1) for _ in range(repeat)]
        after = next(iter(client.query(f'SELECT count(*) AS n FROM `{table}`').result())).n
        assert after == held, f'{table}: {held} rows before the replacements, {after} after'
        results[dataset] = (len(months), held, times)

    print(f'SYNTHETIC yellow months of {rows:,} rows (the release shape), month 2019-01 replaced {repeat} times')
    print('| table holds | rows in table | replace one month: median s | runs s |')
    print('|---:|---:|---:|---|')
    for n_months, held, times in results.values():
        print(
            f'| {plural(n_months, "month")} | {held:,} | {statistics.median(times):.2f} | '
            f'{", ".join(f"{t:.2f}" for t in times)} |'
        )
    ratio = statistics.median(results['twelve_months'][2]) / statistics.median(results['one_month'][2])
    print(f'12 months / 1 month: {ratio:.2f} x (target <= 1.5)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
