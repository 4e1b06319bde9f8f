"""`make bench-runs` (and part of `make bench`): how long a run through the Mage server takes, from
the press of its API trigger to its end, with Mage as it comes and with this project's start-up
shortcuts, in the same bench run on the same machine.

    reference   PRELOAD_IMPORTS=0 WAKE_ON_NEW_RUNS=0: every run imports dbt, its adapters,
                pyarrow and the Google clients itself, and waits for the scheduler's next tick
                (SCHEDULER_TRIGGER_INTERVAL, 10 s) to start
    ours        the defaults: those packages imported once in the server before it forks
                (scripts/mage/start_mage.py), the scheduler woken when the server created a run
                (scripts/mage/mage_patches/)
    block jobs  ours, with every pipeline's `run_pipeline_in_one_process: false` (Mage's default):
                each block a job of its own, started by the scheduler's ticks, instead of the
                whole run in one process

`make up` in a fresh copy of the checkout on free ports (the bundled samples: yellow 2021-01 is
1,197 rows), then each pipeline of PIPELINES below is triggered --repeat times through its API
trigger, one run at a time. For each run, from Mage's API: `wait` = created_at -> started_at
(until a worker picks it up) and `run` = started_at -> completed_at (Mage's own clock), and the
whole `trigger -> completed` as the caller sees it. Medians; ratios = ours / reference.
Writes .data/bench/runs.json.

    .venv/bin/python scripts/bench/server_runs.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from scripts.mage.mage_api import MageServer  # noqa: E402
from scripts.stack.processes import private_checkout, private_stack_env  # noqa: E402

YELLOW = {'service': 'yellow', 'year': 2021, 'month': 1}
PIPELINES = ('api_to_postgres', 'postgres_marts', 'bigquery_marts')
MODES = {
    'reference': {'PRELOAD_IMPORTS': '0', 'WAKE_ON_NEW_RUNS': '0'},
    'ours': {'PRELOAD_IMPORTS': '1', 'WAKE_ON_NEW_RUNS': '1'},
    'block jobs': {'PRELOAD_IMPORTS': '1', 'WAKE_ON_NEW_RUNS': '1'},
}
ONE_PROCESS = {'reference': True, 'ours': True, 'block jobs': False}


def run_in_one_process(checkout: Path, one: bool) -> None:
    """Every pipeline of the checkout with `run_pipeline_in_one_process: <one>` (read by the server
    when a run starts)."""
    for meta in (checkout / 'pipelines').glob('*/metadata.yaml'):
        text = meta.read_text()
        new = text.replace(
            f'run_pipeline_in_one_process: {str(not one).lower()}', f'run_pipeline_in_one_process: {str(one).lower()}'
        )
        if f'run_pipeline_in_one_process: {str(one).lower()}' not in new:
            raise SystemExit(f'{meta}: no run_pipeline_in_one_process line')
        meta.write_text(new)


def _time(value: str) -> datetime:
    return datetime.fromisoformat(str(value).replace('Z', '+00:00')).replace(tzinfo=None)


def make(checkout: Path, env: dict[str, str], target: str) -> str:
    done = subprocess.run(
        ['make', '--no-print-directory', target], cwd=checkout, env=env, capture_output=True, text=True, timeout=1800
    )
    if done.returncode != 0:
        raise SystemExit(f'make {target} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}')
    return done.stdout


def measure(mage: MageServer, pipeline: str, repeat: int) -> list[dict[str, float]]:
    """`repeat` runs of `pipeline` on yellow 2021-01, one after another."""
    out = []
    for _ in range(repeat):
        pressed = time.monotonic()
        run = mage.wait(mage.trigger(pipeline, YELLOW), timeout=900)
        seen = time.monotonic() - pressed
        if run['status'] != 'completed':
            raise SystemExit(f'{pipeline} run {run["id"]} {run["status"]}: {mage.result(run).error}')
        out.append(
            {
                'wait': (_time(run['started_at']) - _time(run['created_at'])).total_seconds(),
                'run': (_time(run['completed_at']) - _time(run['started_at'])).total_seconds(),
                'total': seen,
            }
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--repeat', type=int, default=3, help='runs of each pipeline in each mode')
    parser.add_argument(
        '--modes', default=','.join(MODES), help=f'the modes to measure, of {", ".join(MODES)} (reference always)'
    )
    args = parser.parse_args()
    wanted = {'reference', *(m.strip() for m in args.modes.split(',') if m.strip())}
    if unknown := wanted - set(MODES):
        parser.error(f'--modes: no mode {", ".join(sorted(unknown))} (the modes: {", ".join(MODES)})')
    modes = {mode: settings for mode, settings in MODES.items() if mode in wanted}
    checkout = private_checkout('bench-runs-')
    private = checkout.parent
    env = private_stack_env()
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    try:
        for mode, settings in modes.items():
            mode_env = {**env, **settings}
            run_in_one_process(checkout, ONE_PROCESS[mode])
            started = time.monotonic()
            make(checkout, mode_env, 'up')  # make up's own runs load every month the marts read
            print(f'[bench-runs] {mode}: make up in {time.monotonic() - started:.0f} s', flush=True)
            mage = MageServer.from_env(f'http://127.0.0.1:{env["MAGE_PORT"]}', mode_env)
            results[mode] = {p: measure(mage, p, args.repeat) for p in PIPELINES}
            make(checkout, mode_env, 'stop')
    finally:
        subprocess.run(['make', '--no-print-directory', 'clean'], cwd=checkout, env=env, capture_output=True)
        shutil.rmtree(private, ignore_errors=True)

    def median(mode: str, pipeline: str, key: str) -> float:
        return statistics.median(r[key] for r in results[mode][pipeline])

    print(
        f'\nA run through the server on the bundled samples (yellow 2021-01, 1,197 rows), medians of {args.repeat}; '
        "wait = created -> started, run = started -> completed (Mage's clock), total = trigger -> completed"
    )
    print(f'{"mode":<12}{"pipeline":<16}{"wait / run / total (s)":>26}{"run ratio":>11}{"total ratio":>13}')
    for mode in modes:
        for p in PIPELINES:
            ref = [median('reference', p, k) for k in ('wait', 'run', 'total')]
            got = [median(mode, p, k) for k in ('wait', 'run', 'total')]
            print(
                f'{mode:<12}{p:<16}{" / ".join(f"{v:5.1f}" for v in got):>26}'
                f'{got[1] / ref[1]:>10.2f}x{got[2] / ref[2]:>12.2f}x'
            )
    out = REPO_ROOT / '.data' / 'bench'
    out.mkdir(parents=True, exist_ok=True)
    (out / 'runs.json').write_text(json.dumps(results, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
