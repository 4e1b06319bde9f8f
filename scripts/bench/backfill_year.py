"""`make bench-backfill`: a year of SYNTHETIC full months through Mage's own backfill, against
12 × `psql \\copy` of the same files into the same PostgreSQL, measured in the same run.

    .venv/bin/python scripts/bench/backfill_year.py [--months 12] [--rows 1369765] [--parallel 1 2 3]

For each `--parallel` N (the pipelines' concurrency_config limit) it starts the whole stack as
`make up` does, from a copy of the checkout with that limit, on free ports, with the source
pointed at a local HTTP server holding the generated months (scripts/bench/synthetic_taxi.py; yellow
2019-01.., each month's pickups inside its month). Then it runs `make backfill`'s script and
reports: its wall time against the 12 `psql \\copy` runs; each month's run (seconds by Mage's
clock, peak RSS of that run's processes); the Mage server's own RSS before and after; the
work folder's size at the end; and one month triggered through the API trigger (the latency a
UI user sees). It prints a table, writes results.json and a chart (month -> seconds and MB).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from scripts.bench.measure import TreeSampler  # noqa: E402
from scripts.bench.synthetic_taxi import FULL_MONTH_ROWS, generate_month  # noqa: E402
from scripts.mage.mage_api import MageServer  # noqa: E402
from scripts.stack.processes import copy_checkout, free_port, start_http_mirror, stop_process_group  # noqa: E402
from utils.domain.taxi_schema import course_layout  # noqa: E402

OUT = REPO / '.data' / 'bench-backfill'
YEAR = 2019


@dataclass
class Trial:
    parallel: int
    backfill_seconds: float = 0.0
    month_seconds: list[float] = field(default_factory=list)
    month_peak_rss_mb: list[float] = field(default_factory=list)
    server_rss_mb_before: float = 0.0
    server_rss_mb_after_first_run: float = 0.0
    server_rss_mb_after: float = 0.0
    server_rss_mb_after_more_years: list[float] = field(default_factory=list)  # --years > 1
    work_folder_bytes: int = 0
    api_month_seconds: float = 0.0
    rows: int = 0


def generate(months: int, rows: int, source: Path) -> list[Path]:
    files = []
    for month in range(1, months + 1):
        path = source / 'yellow' / f'yellow_tripdata_{YEAR}-{month:02d}.csv.gz'
        stamp = path.with_name(path.name + f'.{rows}')
        if not stamp.exists():
            started = time.perf_counter()
            generate_month(path, rows=rows, year=YEAR, month=month, seed=month)
            stamp.touch()
            print(
                f'generated {rows:,} synthetic rows for {YEAR}-{month:02d} in {time.perf_counter() - started:.1f} s',
                flush=True,
            )
        files.append(path)
    return files


def psql_reference(files: list[Path], env: dict[str, str], port: int) -> float:
    """12 × `zcat | psql \\copy`, one after the other, each into a table created in the same
    transaction (as our loads' staging tables are, so it skips the WAL as they do); total seconds."""
    columns = ', '.join(f'"{n}" {t}' for n, t in course_layout('yellow').postgres_columns())
    psql = shutil.which('psql') or '/usr/bin/psql'
    base = f'{psql} -h 127.0.0.1 -p {port} -U root -d ny_taxi -q -v ON_ERROR_STOP=1'
    total = 0.0
    for i, path in enumerate(files):
        started = time.perf_counter()
        subprocess.run(
            f'zcat {path} | {base} --single-transaction -c "CREATE TABLE bench_ref_{i} ({columns})" '
            f'-c "\\copy bench_ref_{i} FROM STDIN WITH (FORMAT csv, HEADER true)"',
            shell=True,
            env=env,
            check=True,
        )
        total += time.perf_counter() - started
        subprocess.run(f'{base} -c "DROP TABLE bench_ref_{i}"', shell=True, env=env, check=True)
    return total


def trial(parallel: int, months: int, source_url: str, out: Path, years: int = 1) -> tuple[Trial, float, str]:
    checkout = out / f'checkout-{parallel}'
    shutil.rmtree(checkout, ignore_errors=True)
    checkout.mkdir(parents=True)
    copy_checkout(checkout)
    meta = checkout / 'pipelines' / 'api_to_postgres' / 'metadata.yaml'
    text = meta.read_text()
    assert 'pipeline_run_limit_all_triggers: 2' in text
    meta.write_text(text.replace('pipeline_run_limit_all_triggers: 2', f'pipeline_run_limit_all_triggers: {parallel}'))

    ports = {k: free_port() for k in ('POSTGRES_PORT', 'MAGE_PORT', 'MIRROR_PORT', 'GCS', 'BQ')}
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'LOCAL_DATA_DIR', 'PGDATA_DIR')}
    env.update({k: str(v) for k, v in ports.items() if k.endswith('PORT')})
    env.update(
        {
            'SOURCE': 'public',
            'NYC_TLC_BASE_URL': source_url,
            'PIPELINES': 'none',
            'PGPASSWORD': 'root',
            'GCS_EMULATOR_URL': f'http://127.0.0.1:{ports["GCS"]}',
            'BIGQUERY_EMULATOR_URL': f'http://127.0.0.1:{ports["BQ"]}',
        }
    )
    make = ['make', '--no-print-directory', '-C', str(checkout)]
    result = Trial(parallel)
    try:
        up = subprocess.run([*make, 'up'], env=env, capture_output=True, text=True)
        if up.returncode != 0:
            raise SystemExit(f'make up failed:\n{up.stdout[-3000:]}{up.stderr[-2000:]}')
        mage_pid = int((checkout / '.data' / 'run' / 'mage.pid').read_text())
        mage = MageServer.from_env(f'http://127.0.0.1:{ports["MAGE_PORT"]}', env)
        sampler = TreeSampler(mage_pid)
        result.server_rss_mb_before = sampler.server_rss()
        backfill = [
            str(checkout / '.venv' / 'bin' / 'python'),
            str(checkout / 'scripts' / 'ops' / 'backfill.py'),
            '--pipeline',
            'api_to_postgres',
            '--service',
            'yellow',
            '--from',
            f'{YEAR}-01',
            '--to',
            f'{YEAR}-{months:02d}',
        ]
        backfill_env = {**env, 'PYTHONPATH': str(checkout)}
        with sampler:
            started = time.perf_counter()
            done = subprocess.run(backfill, env=backfill_env, capture_output=True, text=True)
            result.backfill_seconds = time.perf_counter() - started
        output = done.stdout + done.stderr
        if done.returncode != 0:
            raise SystemExit(f'the backfill failed:\n{output[-4000:]}')
        lines = re.findall(r'^\d{4}-\d{2}  completed\s+([\d,]+) rows\s+([\d.]+) s$', done.stdout, re.M)
        result.month_seconds = [float(s) for _, s in lines]
        result.rows = sum(int(r.replace(',', '')) for r, _ in lines)
        result.month_peak_rss_mb = sampler.run_peaks_mb(months)
        if len(result.month_peak_rss_mb) != months:
            raise SystemExit(
                f'found {len(result.month_peak_rss_mb)} run processes for {months} months: '
                f'{[round(r) for r in result.month_peak_rss_mb]} MB'
            )
        result.server_rss_mb_after_first_run = sampler.server_rss_after_first_run()
        result.server_rss_mb_after = sampler.server_rss()
        for _ in range(years - 1):  # the same year again (replaced): does the server keep growing?
            again = subprocess.run(backfill, env=backfill_env, capture_output=True, text=True)
            if again.returncode != 0:
                raise SystemExit(f'the backfill failed:\n{(again.stdout + again.stderr)[-4000:]}')
            result.server_rss_mb_after_more_years.append(sampler.server_rss())
        work = checkout / '.data' / 'work'
        result.work_folder_bytes = sum(f.stat().st_size for f in work.rglob('*') if f.is_file()) if work.exists() else 0
        api = mage.run('api_to_postgres', {'service': 'yellow', 'year': YEAR, 'month': 1})
        assert api.ok, api
        result.api_month_seconds = api.seconds
        psql_seconds = psql_reference(files_of(out), env, ports['POSTGRES_PORT'])
        return result, psql_seconds, output
    finally:
        subprocess.run([*make, 'clean'], env=env, capture_output=True, text=True)
        shutil.rmtree(checkout, ignore_errors=True)


def files_of(out: Path) -> list[Path]:
    return sorted((out / 'source' / 'yellow').glob('*.csv.gz'))


def chart(trials: list[Trial], path: Path) -> None:
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for t in trials:
        months = range(1, len(t.month_seconds) + 1)
        left.plot(months, t.month_seconds, marker='o', label=f'{t.parallel} at once')
        right.plot(
            range(1, len(t.month_peak_rss_mb) + 1), t.month_peak_rss_mb, marker='o', label=f'{t.parallel} at once'
        )
    left.set(title='seconds per month (Mage run)', xlabel='month of 2019 (synthetic)', ylabel='s')
    right.set(title="peak RSS of each month's run", xlabel='month of 2019 (synthetic)', ylabel='MB')
    for ax in (left, right):
        ax.legend()
        ax.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(path, dpi=80)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--months', type=int, default=12)
    parser.add_argument('--rows', type=int, default=FULL_MONTH_ROWS)
    parser.add_argument('--parallel', type=int, nargs='+', default=[1, 2, 3])
    parser.add_argument(
        '--years',
        type=int,
        default=1,
        help='backfill the year this many times in each trial (the server RSS after each)',
    )
    parser.add_argument('--out', type=Path, default=OUT)
    args = parser.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    generate(args.months, args.rows, out / 'source')
    for stale in files_of(out)[args.months :]:
        stale.unlink()
    port = free_port()
    mirror = start_http_mirror(out / 'source', port, out / 'source.log')
    trials, references = [], []
    try:
        for parallel in args.parallel:
            result, reference, output = trial(parallel, args.months, f'http://127.0.0.1:{port}', out, args.years)
            (out / f'backfill-{parallel}.txt').write_text(output)
            trials.append(result)
            references.append(reference)
            print(
                f'{parallel} at once: backfill {result.backfill_seconds:.1f} s, '
                f'{args.months} x psql \\copy {reference:.1f} s',
                flush=True,
            )
    finally:
        stop_process_group(mirror.pid)

    print(
        f'\n{args.months} synthetic months of {args.rows:,} rows (yellow {YEAR}), this machine: {os.cpu_count()} cores\n'
    )
    print(
        '| runs at once | backfill s | 12 × psql \\copy s | × psql | month s (min–max) | run peak RSS MB '
        '(first → max) | server RSS MB before → first month → year | work folder after | one month via API s |'
    )
    print('|---:|---:|---:|---:|---|---|---|---:|---:|')
    for t, ref in zip(trials, references, strict=False):
        rss = t.month_peak_rss_mb
        print(
            f'| {t.parallel} | {t.backfill_seconds:.1f} | {ref:.1f} | {t.backfill_seconds / ref:.2f} | '
            f'{min(t.month_seconds):.1f}–{max(t.month_seconds):.1f} | {rss[0]:.0f} → {max(rss):.0f} '
            f'(+{100 * (max(rss) / rss[0] - 1):.1f} %) | {t.server_rss_mb_before:.0f} → '
            f'{t.server_rss_mb_after_first_run:.0f} → {t.server_rss_mb_after:.0f} | '
            f'{t.work_folder_bytes:,} B | {t.api_month_seconds:.1f} |'
        )
    for t in trials:
        print(
            f'{t.parallel} at once, server RSS MB: {t.server_rss_mb_before:.0f} before, '
            f'{t.server_rss_mb_after_first_run:.0f} once the first month ended, then after each year: '
            f'{[round(r) for r in [t.server_rss_mb_after, *t.server_rss_mb_after_more_years]]}'
        )
        print(
            f'{t.parallel} at once, per month: seconds {[round(s, 1) for s in t.month_seconds]}, '
            f'peak RSS MB {[round(r) for r in t.month_peak_rss_mb]}, rows {t.rows:,}'
        )
    (out / 'results.json').write_text(
        json.dumps([{**asdict(t), 'psql_copy_seconds': r} for t, r in zip(trials, references, strict=False)], indent=2)
    )
    chart(trials, out / 'bench-backfill.png')
    print(f'\nwrote {out / "results.json"} and {out / "bench-backfill.png"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
