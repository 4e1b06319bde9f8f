"""`make bench`: our pipeline against `psql \\copy` and against the course's pandas way.

Generates a synthetic month in the exact DataTalksClub CSV shape (scripts/bench/synthetic_taxi.py),
serves it over HTTP, and runs, one after another on the same file and the same PostgreSQL:

  reference    zcat file | psql -1 -c "CREATE TABLE ..." -c "\\copy ... FROM STDIN CSV HEADER"   (typed table)
  course way   pd.read_csv(url, dtype=..., parse_dates=...) of the whole file, filter,
               Mage's Postgres.export (COPY from a whole-frame CSV buffer)
  pipeline     `mage run . api_to_postgres` as users run it (with dev.env's settings); its own
               time is the wall time minus a `mage run` on a 1,197-row file measured in the same
               run (Mage start-up), and, without that subtraction's noise, the sum of the
               blocks' own times from their logs; once more with pyarrow's default allocator
  partitions   our pickup_date partitioned parquet (utils/sinks/gcs_io.write_partitions) against
               DuckDB's COPY ... TO ... (FORMAT parquet, PARTITION_BY ...) on the clean file
  month size   the same `mage run` on a synthetic month of --big-rows rows (the real yellow
               2019-01's 7,667,792 by default; 0 skips it): its peak RSS beside the first's, as
               memory must stay flat whatever a month's size

Wall times of the reference, the start-up and the month are medians of --repeat runs (3);
peak RSS is the largest sum of RSS over each command's whole process tree (sampled every
20 ms with psutil), the largest of the runs. Prints a table and writes .data/bench/bench.png
and results.json.

    python scripts/bench/month_loads.py [--rows N] [--months M] [--repeat R] [--big-rows N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from dotenv import dotenv_values

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from scripts.bench.measure import measure, seconds_of, typical  # noqa: E402
from scripts.bench.synthetic_taxi import FULL_MONTH_ROWS, YELLOW_2019_01_ROWS, generate_month  # noqa: E402
from scripts.stack.local_postgres import Postgres  # noqa: E402
from scripts.stack.processes import free_port, start_http_mirror, stop_process_group  # noqa: E402
from utils.domain.taxi_schema import course_layout  # noqa: E402

BENCH = REPO / '.data' / 'bench'
STEPS = str(Path(__file__).with_name('month_steps.py'))  # each measured step in a process of its own
SAMPLE = REPO / 'samples' / 'yellow' / 'yellow_tripdata_2021-01.csv.gz'
TINY_MONTH = (
    2019,
    12,
)  # the 1,197-row sample served under this name (a month of the course release): Mage's fixed cost
BIG_MONTH = (2019, 1)  # the --big-rows file is served under this name


@dataclass
class Result:
    name: str
    seconds: float
    peak_rss_mb: float
    rows: int

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 and self.rows else float('nan')


def _found(pattern: str, text: str) -> str:
    """The first group of `pattern` in `text`, or an error naming what a run's log lacked."""
    match = re.search(pattern, text)
    if match is None:
        raise SystemExit(f'the run log has no {pattern!r}: {text[-500:]}')
    return match.group(1)


def block_times(output: str) -> dict[str, float]:
    """The blocks' own times in a mage run, from their 'extract_month took 1.02 s' log lines."""
    took = dict(re.findall(r'utils\.steps\.taxi_pipeline: (\w+) took ([\d.]+) s', output))
    if len(took) != 3:
        raise SystemExit(f'expected 3 timed blocks in the mage run output, found {sorted(took)}')
    return {name: float(seconds) for name, seconds in took.items()}


def pg_count(pg: Postgres, sql: str) -> int:
    with pg.connect() as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def chart(results: list[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = [r.name for r in results]
    left.barh(names, [r.seconds for r in results], color='#4c72b0')
    left.set_xlabel('wall time (s)')
    left.invert_yaxis()
    right.barh(names, [r.peak_rss_mb for r in results], color='#dd8452')
    right.set_xlabel('peak RSS of the process tree (MB)')
    right.invert_yaxis()
    right.set_yticklabels([])
    fig.suptitle(f'{results[0].rows:,} rows, one yellow month (make bench)')
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def synthetic_month(out: Path, rows: int) -> Path:
    """A SYNTHETIC yellow month of `rows` rows (the project's generator), made once per size."""
    data = out / f'yellow_{rows}.csv.gz'
    if not data.exists():
        t = time.perf_counter()
        generate_month(data, rows)
        print(f'generated {rows:,} synthetic rows in {time.perf_counter() - t:.1f} s -> {data}')
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rows', type=int, default=FULL_MONTH_ROWS)
    parser.add_argument('--months', type=int, default=1, help='also run the pipeline over this many months')
    parser.add_argument(
        '--repeat',
        type=int,
        default=3,
        help='runs of psql \\copy, of the start-up and of the month; medians are reported',
    )
    parser.add_argument(
        '--big-rows',
        type=int,
        default=YELLOW_2019_01_ROWS,
        help='rows of the second, larger month whose peak RSS is compared (0: skip)',
    )
    parser.add_argument('--out', type=Path, default=BENCH, help='work folder (default .data/bench)')
    args = parser.parse_args()

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o755)
    source = out / 'source'
    data = synthetic_month(out, args.rows)
    shutil.rmtree(source, ignore_errors=True)
    (source / 'yellow').mkdir(parents=True)
    for month in range(1, args.months + 1):
        (source / 'yellow' / f'yellow_tripdata_2021-{month:02d}.csv.gz').symlink_to(data)
    (source / 'yellow' / f'yellow_tripdata_{TINY_MONTH[0]}-{TINY_MONTH[1]:02d}.csv.gz').symlink_to(SAMPLE)
    if args.big_rows:
        (source / 'yellow' / f'yellow_tripdata_{BIG_MONTH[0]}-{BIG_MONTH[1]:02d}.csv.gz').symlink_to(
            synthetic_month(out, args.big_rows)
        )

    shutil.rmtree(out / 'pg', ignore_errors=True)
    (out / 'pg').mkdir()
    (out / 'pg').chmod(0o755)
    pg = Postgres(out / 'pg' / 'data', free_port(), 'bench', 'bench', 'ny_taxi').start()
    mirror_port = free_port()
    mirror = start_http_mirror(source, mirror_port, out / 'mirror.log')
    base_url = f'http://127.0.0.1:{mirror_port}'
    work = out / 'work'
    shutil.rmtree(work, ignore_errors=True)
    env = {
        **{k: v for k, v in dotenv_values(REPO / 'dev.env').items() if v is not None},  # as make run
        **os.environ,
        'PYTHONPATH': str(REPO),
        'IO_CONFIG_PROFILE': 'local',
        'NYC_TLC_BASE_URL': base_url,
        'POSTGRES_DBNAME': 'ny_taxi',
        'POSTGRES_SCHEMA': 'ny_taxi',
        'POSTGRES_USER': 'bench',
        'POSTGRES_PASSWORD': 'bench',
        'POSTGRES_HOST': '127.0.0.1',
        'POSTGRES_PORT': str(pg.port),
        'TAXI_WORK_DIR': str(work),
        'MAGE_DATA_DIR': str(out / 'mage'),
        'PGPASSWORD': 'bench',
    }
    py = sys.executable
    mage = str(Path(py).with_name('mage'))
    results: list[Result] = []
    try:
        columns = ', '.join(f'"{n}" {t}' for n, t in course_layout('yellow').postgres_columns())
        psql = shutil.which('psql') or '/usr/bin/psql'
        reference_runs = []
        for _ in range(args.repeat):
            with pg.connect() as conn, conn.cursor() as cur:
                cur.execute('DROP SCHEMA IF EXISTS bench CASCADE; CREATE SCHEMA bench')
            # a fresh table created in the COPY's transaction, as our staging table is (so under
            # wal_level=minimal it skips the WAL as ours does)
            reference_runs.append(
                measure(
                    f'zcat {data} | {psql} -h 127.0.0.1 -p {pg.port} -U bench -d ny_taxi -q --single-transaction '
                    f'-c "CREATE TABLE bench.reference ({columns})" '
                    f'-c "\\copy bench.reference FROM STDIN WITH (FORMAT csv, HEADER true)"',
                    env,
                    shell=True,
                )
            )
            loaded = pg_count(pg, 'SELECT count(*) FROM bench.reference')
            assert loaded == args.rows, (loaded, args.rows)
        results.append(Result('psql \\copy (reference)', *typical(reference_runs), args.rows))

        dsn = {'dbname': 'ny_taxi', 'user': 'bench', 'password': 'bench', 'host': '127.0.0.1', 'port': pg.port}
        secs, rss, _ = measure(
            [py, STEPS, 'course-way', f'{base_url}/yellow/yellow_tripdata_2021-01.csv.gz', json.dumps(dsn)], env
        )
        course_rows = pg_count(pg, 'SELECT count(*) FROM bench.course_way')
        results.append(Result('course way (pandas + Mage export)', secs, rss, args.rows))
        imports, imports_rss, _ = measure([py, STEPS, 'course-imports'], env)
        results.append(Result('course way, imports only', imports, imports_rss, 0))

        def mage_run(year: int, month: int, run_env: dict[str, str] = env) -> tuple[float, float, str]:
            variables = json.dumps({'service': 'yellow', 'year': year, 'month': month})
            return measure([mage, 'run', str(REPO), 'api_to_postgres', '--runtime-vars', variables], run_env)

        tiny_runs, month_runs = [], []
        for _ in range(args.repeat):  # interleaved: a drift of the machine hits both alike
            tiny_runs.append(mage_run(*TINY_MONTH))
            month_runs.append(mage_run(2021, 1))
        startup, startup_rss = typical(tiny_runs)
        secs, rss = typical(month_runs)
        results.append(Result('mage run, 1,197 rows (start-up)', startup, startup_rss, 1197))
        results.append(Result('mage run api_to_postgres', secs, rss, args.rows))
        results.append(Result('pipeline (mage run - start-up)', secs - startup, rss, args.rows))
        per_block = [block_times(output) for _, _, output in month_runs]
        blocks = statistics.median(sum(times.values()) for times in per_block)
        results.append(Result('pipeline blocks, timed inside the run', blocks, rss, args.rows))
        peaks = [rss] + [mage_run(2021, month)[1] for month in range(2, args.months + 1)]
        secs, rss, _ = mage_run(2021, 1, {**env, 'ARROW_DEFAULT_MEMORY_POOL': 'mimalloc'})
        results.append(Result('mage run, pyarrow default allocator', secs, rss, args.rows))
        big_runs = [mage_run(*BIG_MONTH) for _ in range(args.repeat)] if args.big_rows else []
        ours = pg_count(pg, "SELECT count(*) FROM ny_taxi.yellow_taxi_data WHERE source_month = '2021-01-01'")
        assert ours == course_rows, f'pipeline loaded {ours} rows, the course way {course_rows}'

        made = subprocess.run(
            [py, STEPS, 'clean-month', '2021', '1'], env=env, cwd=REPO, capture_output=True, text=True, check=True
        )
        clean = made.stdout.strip().splitlines()[-1]
        secs, rss, _ = measure([py, STEPS, 'partitions-duckdb', clean, str(out / 'parts-duckdb')], env)
        results.append(Result('partitions: DuckDB COPY (reference)', secs, rss, ours))
        secs, rss, _ = measure([py, STEPS, 'partitions-ours', clean, str(out / 'parts-ours')], env)
        results.append(Result('partitions: ours (pyarrow)', secs, rss, ours))
    finally:
        stop_process_group(mirror.pid)
        pg.stop()

    by = {r.name: r for r in results}
    ref, course = by['psql \\copy (reference)'], by['course way (pandas + Mage export)']
    pipeline = by['pipeline (mage run - start-up)']
    part_ref = by['partitions: DuckDB COPY (reference)']
    print(f'\n{args.rows:,} rows (yellow, {ours:,} kept), {os.cpu_count()} cores\n')
    print('| step | wall s | rows/s | × reference | peak RSS MB |')
    print('|---|---:|---:|---:|---:|')
    for r in results:
        reference = part_ref if r.name.startswith('partitions') else ref
        print(
            f'| {r.name} | {r.seconds:.1f} | {r.rows_per_s:,.0f} | {r.seconds / reference.seconds:.2f} | {r.peak_rss_mb:.0f} |'
        )
    print(
        f'\nruns (s), medians above: psql \\copy {seconds_of(reference_runs)}; '
        f'start-up {seconds_of(tiny_runs)}; month {seconds_of(month_runs)}'
    )
    download = statistics.median(float(_found(r'MB in ([\d.]+) s\)', out)) for _, _, out in month_runs)
    print(
        'blocks (median s): '
        + ', '.join(f'{name} {statistics.median(times[name] for times in per_block):.2f}' for name in per_block[0])
        + f' (the download in extract_month: {download:.2f})'
    )
    print(
        f'pipeline / psql \\copy = {pipeline.seconds / ref.seconds:.2f} (target <= 1.3); its blocks alone, '
        f'timed inside the run (no start-up subtracted): {by["pipeline blocks, timed inside the run"].seconds / ref.seconds:.2f}'
    )
    print(
        f'course way / pipeline = {course.seconds / pipeline.seconds:.2f} (target >= 2.5); '
        f'without its imports: {(course.seconds - imports) / pipeline.seconds:.2f}'
    )
    print(
        f'peak RSS of mage run = {by["mage run api_to_postgres"].peak_rss_mb:.0f} MB (target <= 500) with '
        f'ARROW_DEFAULT_MEMORY_POOL={env.get("ARROW_DEFAULT_MEMORY_POOL", "(unset)")}; '
        f"{by['mage run, pyarrow default allocator'].peak_rss_mb:.0f} MB with pyarrow's default (mimalloc)"
    )
    if big_runs:
        small_peak, (big_secs, big_peak) = by['mage run api_to_postgres'].peak_rss_mb, typical(big_runs)
        print(
            f'peak RSS of mage run by month size: {args.rows:,} rows {small_peak:.0f} MB | {args.big_rows:,} rows '
            f'{big_peak:.0f} MB ({(big_peak / small_peak - 1) * 100:+.1f} %, target within 10 %); the larger in '
            f'{big_secs:.1f} s (runs: {seconds_of(big_runs)}; peaks: {", ".join(f"{r[1]:.0f}" for r in big_runs)} MB)'
        )
    if args.months > 1:
        print(
            f'{args.months} months: peak RSS {max(peaks):.0f} MB vs {peaks[0]:.0f} MB for the first '
            f'({(max(peaks) / peaks[0] - 1) * 100:+.1f} %, target within 10 %); month by month: '
            + ', '.join(f'{p:.0f}' for p in peaks)
        )
    (out / 'results.json').write_text(json.dumps([asdict(r) for r in results], indent=2))
    chart(results, out / 'bench.png')
    print(f'\nchart: {out / "bench.png"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
