"""The benchmark's small version, so it keeps working (no timing is asserted: figures come
from `make bench` on a quiet machine). It checks itself that every way loads the same rows."""

import json
import re
import shutil
import subprocess
import sys

import pytest
import yaml
from conftest import REPO, open_tmp_dir

pytestmark = pytest.mark.mage


def test_small_benchmark_runs_and_reports_every_step():
    out = open_tmp_dir('nyc-taxi-bench-')
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / 'scripts' / 'bench' / 'month_loads.py'),
            '--rows',
            '20000',
            '--repeat',
            '2',
            '--big-rows',
            '60000',
            '--out',
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    names = [r['name'] for r in json.loads((out / 'results.json').read_text())]
    assert names == [
        'psql \\copy (reference)',
        'course way (pandas + Mage export)',
        'course way, imports only',
        'mage run, 1,197 rows (start-up)',
        'mage run api_to_postgres',
        'pipeline (mage run - start-up)',
        'pipeline blocks, timed inside the run',
        'mage run, pyarrow default allocator',
        'partitions: DuckDB COPY (reference)',
        'partitions: ours (pyarrow)',
    ]
    assert '| pipeline (mage run - start-up) |' in done.stdout
    assert re.search(
        r'runs \(s\), medians above: psql \\copy [\d.]+, [\d.]+; start-up [\d.]+, [\d.]+; month', done.stdout
    )
    assert (out / 'bench.png').stat().st_size > 10_000
    assert re.search(
        r'peak RSS of mage run by month size: 20,000 rows \d+ MB \| 60,000 rows \d+ MB \([+-][\d.]+ %', done.stdout
    )


def test_the_bigquery_month_benchmark_runs():
    """make bench-bigquery's small version: a month replaced in tables of 1 and 12 months, the
    row counts unchanged by the replacements (the script checks them)."""
    done = subprocess.run(
        [sys.executable, str(REPO / 'scripts' / 'bench' / 'bigquery_replace.py'), '--rows', '3000', '--repeat', '2'],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r'\| 1 month \| [\d,]+ \| [\d.]+ \|', done.stdout), done.stdout
    assert re.search(r'\| 12 months \| [\d,]+ \| [\d.]+ \|', done.stdout), done.stdout
    assert re.search(r'12 months / 1 month: [\d.]+ x', done.stdout), done.stdout


def test_the_mart_refresh_benchmark_runs():
    """make bench-marts' small version: the dbt project built for 1 and 3 synthetic months (the
    bench: 12) in PostgreSQL and the BigQuery emulator, then a month refreshed, fact_trips' rows
    unchanged by the refreshes (the script checks them)."""
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / 'scripts' / 'bench' / 'marts_refresh.py'),
            '--rows',
            '2000',
            '--repeat',
            '1',
            '--months',
            '3',
        ],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for warehouse in ('postgres', 'bigquery'):
        assert re.search(rf'\| {warehouse} \| 3 month\(s\) \| [\d,]+ \| [\d.]+ \|', done.stdout), done.stdout
        assert re.search(rf'{warehouse}: 3 months / 1 month: [\d.]+ x', done.stdout), done.stdout
        assert re.search(rf'dbt start-up, {warehouse}: import of the adapter in a fresh process [\d.]+ s', done.stdout)


def test_the_server_run_benchmark_runs():
    """make bench-runs' small version: `make up` with Mage as it comes, then with the project's
    preloaded imports and woken scheduler, one run of each pipeline through the API trigger in
    each (the script fails if a run does not complete). Its third mode, each block a job, is the
    second with the pipeline files changed (the test below)."""
    done = subprocess.run(
        [sys.executable, str(REPO / 'scripts' / 'bench' / 'server_runs.py'), '--repeat', '1', '--modes', 'ours'],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for mode in ('reference', 'ours'):
        for pipeline in ('api_to_postgres', 'postgres_marts', 'bigquery_marts'):
            assert re.search(
                rf'^{mode} +{pipeline} +[\d.]+ / +[\d.]+ / +[\d.]+ +[\d.]+x +[\d.]+x$', done.stdout, re.M
            ), done.stdout
    assert 'block jobs' not in done.stdout


def test_the_block_jobs_mode_turns_every_pipeline_s_one_process_run_off_and_on(tmp_path):
    from scripts.bench.server_runs import run_in_one_process

    shutil.copytree(REPO / 'pipelines', tmp_path / 'pipelines')
    metadata = sorted((tmp_path / 'pipelines').glob('*/metadata.yaml'))
    assert len(metadata) == len(list((REPO / 'pipelines').glob('*/metadata.yaml'))) >= 7
    run_in_one_process(tmp_path, False)
    assert all(yaml.safe_load(m.read_text())['run_pipeline_in_one_process'] is False for m in metadata)
    run_in_one_process(tmp_path, True)
    assert [m.read_text() for m in metadata] == [(REPO / m.relative_to(tmp_path)).read_text() for m in metadata]
