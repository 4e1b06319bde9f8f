"""api_to_postgres end to end, as users run it: `mage run <repo> api_to_postgres --test`,
against a real PostgreSQL server and a real HTTP server holding the bundled samples."""

import gzip
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from conftest import GREEN_MONTH, REPO, YELLOW_SAMPLE, mage_run, query, small_disk, table_fingerprint
from course_oracle import course_clean
from support.source_server import Fault

pytestmark = pytest.mark.mage
TABLE = 'ny_taxi.yellow_taxi_data'


def test_default_month_loads_the_cleaned_sample(pg, taxi_env):
    # the pipeline's defaults: yellow 2021-01, through the `mage` executable started cold, as users run it
    run = mage_run(REPO, 'api_to_postgres', taxi_env, cold=True)
    assert run.returncode == 0, run.output[-3000:]
    assert run.output.count('1/1 tests passed.') == 6  # every block's inline test
    assert (
        'refresh_marts: yellow 2021-01: not refreshed: not a run of the server: run postgres_marts yourself'
        in run.output
    )
    assert 'loading yellow 2021-01, named by the variables year and month' in run.output
    assert taxi_env['POSTGRES_PASSWORD'] not in run.output  # no secret in the logs
    work = Path(taxi_env['TAXI_WORK_DIR'])
    assert "removed the run's work files" in run.output and not any(work.rglob('*')), list(work.rglob('*'))
    expected = course_clean(YELLOW_SAMPLE, 'yellow')
    assert query(pg, f'SELECT count(*) FROM {TABLE}') == [(len(expected),)]
    assert query(pg, f'SELECT round(sum(total_amount)::numeric, 2)::float, min(tpep_pickup_datetime) FROM {TABLE}')[
        0
    ] == (
        pytest.approx(round(expected['total_amount'].sum(), 2)),
        expected['tpep_pickup_datetime'].min(),
    )
    columns = dict(
        query(
            pg,
            'SELECT column_name, data_type FROM information_schema.columns '
            "WHERE table_schema = 'ny_taxi' AND table_name = 'yellow_taxi_data'",
        )
    )
    assert columns['vendor_id'] == columns['rate_code_id'] == columns['pu_location_id'] == 'bigint'
    assert columns['do_location_id'] == columns['passenger_count'] == 'bigint'
    assert columns['tpep_pickup_datetime'] == 'timestamp without time zone'
    assert 'VendorID' not in columns and 'vendorid' not in columns


def test_green_month_by_runtime_vars_and_rerun_is_idempotent(pg, taxi_env):
    variables = {'service': 'green', 'year': 2020, 'month': 10}
    first = mage_run(REPO, 'api_to_postgres', taxi_env, variables)
    assert first.returncode == 0, first.output[-3000:]
    once = table_fingerprint(pg, 'ny_taxi.green_taxi_data')
    assert once[0] == len(course_clean(GREEN_MONTH, 'green')) == 52_351
    again = mage_run(REPO, 'api_to_postgres', taxi_env, variables)
    assert again.returncode == 0, again.output[-3000:]
    assert table_fingerprint(pg, 'ny_taxi.green_taxi_data') == once


def test_an_execution_date_given_by_hand_names_the_month(pg, taxi_env):
    """`mage run --runtime-vars '{"execution_date": ...}'`, as a scheduled run gets it (a string
    here): the month of that date, whatever the default year and month."""
    run = mage_run(REPO, 'api_to_postgres', taxi_env, {'service': 'green', 'execution_date': '2020-10-01T00:00:00'})
    assert run.returncode == 0, run.output[-3000:]
    assert "loading green 2020-10, the month of the run's execution_date 2020-10-01" in run.output
    assert table_fingerprint(pg, 'ny_taxi.green_taxi_data')[0] == len(course_clean(GREEN_MONTH, 'green'))


def test_a_mage_run_past_its_timeout_is_killed_and_the_next_one_runs(pg, taxi_env, source):
    """The tests' own `mage run` (support/warm_cli.py): a run that hangs (the source stalls for
    longer than the HTTP timeout allows here) ends at the caller's timeout, as subprocess.run's
    does, and the warm server goes on serving the next run."""
    source.faults['/yellow/yellow_tripdata_2021-01.csv.gz'] = Fault(stall_seconds=30)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            mage_run(REPO, 'api_to_postgres', {**taxi_env, 'TAXI_HTTP_TIMEOUT': '60'}, timeout=8)
    finally:
        source.faults.clear()
    run = mage_run(REPO, 'api_to_postgres', taxi_env)
    assert run.returncode == 0, run.output[-3000:]


@pytest.fixture()
def loaded_month(pg, taxi_env):
    """ny_taxi.yellow_taxi_data holding yellow 2021-01, loaded by the pipeline's own steps."""
    from utils.steps.taxi_pipeline import clean_month, export_month_to_postgres, extract_month

    export_month_to_postgres(clean_month(extract_month({'service': 'yellow', 'year': 2021, 'month': 1})))
    return table_fingerprint(pg, TABLE)


def _truncated_sample() -> bytes:
    data = YELLOW_SAMPLE.read_bytes()
    return data[: len(data) * 2 // 3]


def _sample_without_column(column: str) -> bytes:
    import pandas as pd

    return pd.read_csv(YELLOW_SAMPLE, dtype=str).drop(columns=[column]).to_csv(index=False).encode()


BAD_INPUTS = {
    'unknown service': ({'service': 'blue'}, None, "unknown taxi service 'blue'"),
    'month out of range': ({'month': 13}, None, 'month=13 is outside 1..12'),
    'year not a number': ({'year': '20x1'}, None, "year='20x1' is not a whole number"),
    'bad execution_date': ({'execution_date': '2021-13-01'}, None, "execution_date='2021-13-01' is not a date"),
    'no such file (404)': ({'year': 2019}, None, 'yellow_tripdata_2019-01.csv.gz answered HTTP 404'),
    'server error (500)': ({}, ('fault', Fault(status=500)), 'yellow_tripdata_2021-01.csv.gz answered HTTP 500'),
    'stalled response': ({}, ('fault', Fault(stall_seconds=6)), 'Timeout'),
    'truncated gzip': ({}, ('body', _truncated_sample()), 'the gzip stream is damaged or truncated'),
    'missing column': ({}, ('csv', _sample_without_column('fare_amount')), 'missing column(s) fare_amount'),
    'renamed column': (
        {},
        ('csv', gzip.decompress(YELLOW_SAMPLE.read_bytes()).replace(b'PULocationID', b'PU_Location', 1)),
        'missing column(s) PULocationID; unexpected column(s) PU_Location',
    ),
    'unreachable Postgres': ({}, ('env', {'POSTGRES_PORT': None}), 'cannot connect to PostgreSQL at'),
    'missing env var': ({}, ('env', {'POSTGRES_PASSWORD': ''}), 'needs the environment variable POSTGRES_PASSWORD'),
}


@pytest.mark.parametrize('case', list(BAD_INPUTS))
def test_bad_input_fails_clearly_and_leaves_the_table(case, pg, taxi_env, loaded_month, source, served):
    overrides, setup, message = BAD_INPUTS[case]
    variables = {'service': 'yellow', 'year': 2021, 'month': 1, **overrides}
    env = dict(taxi_env)
    if setup:
        kind, value = setup
        if kind == 'fault':
            source.faults['/yellow/yellow_tripdata_2021-01.csv.gz'] = value
        elif kind == 'body':
            served('yellow', 2021, 1, value, gzipped=True)
        elif kind == 'csv':
            served('yellow', 2021, 1, value)
        else:
            from scripts.stack.processes import free_port

            env.update({k: (v if v is not None else str(free_port())) for k, v in value.items()})
    run = mage_run(REPO, 'api_to_postgres', env, variables)
    assert run.returncode != 0
    assert message in run.output, run.output[-3000:]
    assert table_fingerprint(pg, TABLE) == loaded_month


def test_a_failing_inline_test_fails_the_run(pg, taxi_env, loaded_month, tmp_path):
    """A copy of the project, under another folder name, whose cleaning rules were lost: the
    cleaner's inline @test sees trips with 0 passengers and fails the run before the export."""
    copy = tmp_path / 'another-checkout-name'
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns('.venv', '.data', '.git', '__pycache__'))
    cleaning = copy / 'utils' / 'domain' / 'taxi_schema.py'
    source = cleaning.read_text()
    rules = "COURSE_RULES: tuple[str, ...] = ('passenger_count_missing', 'passenger_count_not_positive')"
    assert rules in source
    cleaning.write_text(source.replace(rules, "COURSE_RULES: tuple[str, ...] = ('passenger_count_missing',)"))
    run = mage_run(copy, 'api_to_postgres', taxi_env)
    assert run.returncode != 0
    assert 'a trip with passenger_count <= 0 is left' in run.output, run.output[-3000:]
    assert table_fingerprint(pg, TABLE) == loaded_month

    skipped = mage_run(copy, 'api_to_postgres', taxi_env, test=False)  # without --test, @test is skipped
    assert skipped.returncode == 0, skipped.output[-3000:]
    assert table_fingerprint(pg, TABLE) != loaded_month


def test_malformed_rows_are_kept_aside_or_fail_the_run(pg, taxi_env, loaded_month, served, tmp_path):
    import io

    import pandas as pd

    lines = gzip.decompress(YELLOW_SAMPLE.read_bytes()).decode().splitlines()
    header = lines[0].split(',')
    bad_fare = lines[5].split(',')
    bad_fare[header.index('fare_amount')] = 'n/a'
    lines[5] = ','.join(bad_fare)
    lines[20] = lines[20] + ',extra-field'
    served('yellow', 2021, 1, ('\n'.join(lines) + '\n').encode())

    strict = mage_run(REPO, 'api_to_postgres', taxi_env, {'max_reject_ratio': 0})
    assert strict.returncode != 0
    assert (
        "2 of 1,197 rows are malformed, more than max_reject_ratio=0.0 allows; the first: line 6, column fare_amount: 'n/a'"
        in strict.output
    )
    assert table_fingerprint(pg, TABLE) == loaded_month

    lenient = mage_run(REPO, 'api_to_postgres', taxi_env)  # default: up to 1 % kept aside
    assert lenient.returncode == 0, lenient.output[-3000:]
    assert '2 malformed rows kept aside in' in lenient.output
    good = pd.read_csv(io.StringIO('\n'.join(lines[:5] + lines[6:20] + lines[21:]) + '\n'))
    assert query(pg, f'SELECT count(*) FROM {TABLE}') == [(int((good['passenger_count'] > 0).sum()),)]


@pytest.mark.parametrize('size, stage', [('1m', 'download'), ('2500k', 'parquet')])
def test_full_work_folder_fails_clearly_and_a_rerun_loads(size, stage, pg, taxi_env, served):
    """A real full disk under TAXI_WORK_DIR (a small tmpfs), filling up while the 1.7 MB green
    month downloads, or while its parquet is written beside it: the run fails naming the
    folder, leaves no file behind, the month keeps its earlier rows; a rerun loads it all."""
    from utils.steps.taxi_pipeline import clean_month, export_month_to_postgres, extract_month

    variables = {'service': 'green', 'year': 2020, 'month': 10}
    lines = gzip.decompress(GREEN_MONTH.read_bytes()).splitlines(keepends=True)
    served('green', 2020, 10, b''.join(lines[:501]))  # an earlier, shorter version of the month
    export_month_to_postgres(clean_month(extract_month(variables)))
    before = table_fingerprint(pg, 'ny_taxi.green_taxi_data')
    assert 0 < before[0] < 500
    served('green', 2020, 10, GREEN_MONTH.read_bytes(), gzipped=True)

    with small_disk(size) as disk:
        run = mage_run(REPO, 'api_to_postgres', {**taxi_env, 'TAXI_WORK_DIR': str(disk)}, variables)
        assert run.returncode != 0
        assert f'No space left on device while writing in {disk}/' in run.output, run.output[-3000:]
        assert 'set TAXI_WORK_DIR to a folder on a larger disk; nothing was loaded' in run.output
        assert ('downloaded http' in run.output) == (stage == 'parquet')  # where the disk filled up
        assert [p for p in disk.rglob('*') if p.is_file()] == []  # no half-written file stays
    assert table_fingerprint(pg, 'ny_taxi.green_taxi_data') == before

    rerun = mage_run(REPO, 'api_to_postgres', taxi_env, variables)
    assert rerun.returncode == 0, rerun.output[-3000:]
    assert table_fingerprint(pg, 'ny_taxi.green_taxi_data')[0] == len(course_clean(GREEN_MONTH, 'green'))


def test_a_file_not_in_utf8_fails_naming_the_variable_and_loads_with_it(pg, taxi_env, served):
    """The course FAQ's UnicodeDecodeError: the real fhv 2019-01 lines with one base number given
    an É in latin-1 (SYNTHETIC). Read as utf-8 the run fails naming the line, the byte and the
    pipeline variable `encoding`, and the month's partition is as it was; with encoding=latin-1 the
    month loads whole, the É as it was meant."""
    lines = gzip.decompress((REPO / 'samples' / 'fhv' / 'fhv_tripdata_2019-01.csv.gz').read_bytes()).split(b'\n')
    lines[2] = lines[2].replace(b'B00001', b'B0000\xc9', 1)
    served('fhv', 2019, 1, b'\n'.join(lines))
    fhv = {'service': 'fhv', 'year': 2019, 'month': 1}
    before = (
        table_fingerprint(pg, 'ny_taxi.fhv_taxi_data')
        if query(pg, "SELECT to_regclass('ny_taxi.fhv_taxi_data')")[0][0]
        else None
    )

    refused = mage_run(REPO, 'api_to_postgres', taxi_env, fhv)
    assert refused.returncode != 0
    assert (
        'fhv_tripdata_2019-01.csv.gz: line 3 is not utf-8 text: byte c9 at column 6 (invalid continuation byte); '
        'a file in another encoding loads with the pipeline variable encoding set to it' in refused.output
    ), refused.output[-3000:]
    if before is not None:
        assert table_fingerprint(pg, 'ny_taxi.fhv_taxi_data') == before

    loaded = mage_run(REPO, 'api_to_postgres', taxi_env, {**fhv, 'encoding': 'latin-1'})
    assert loaded.returncode == 0, loaded.output[-3000:]
    rows = [line for line in lines[1:] if line]
    assert query(
        pg,
        "SELECT count(*), count(*) FILTER (WHERE dispatching_base_num = 'B0000É') FROM ny_taxi.fhv_taxi_data "
        "WHERE pickup_datetime >= '2019-01-01' AND pickup_datetime < '2019-02-01'",
    ) == [(len(rows), 1)]


def test_a_month_unlike_its_neighbours_completes_with_a_warning_and_is_listed(pg, taxi_env, served):
    """Six real fhv 2019 months loaded (05-07, 09-11: 100 lines each), then 2019-08 cut to its
    first 10 lines (SYNTHETIC, on purpose): the run completes, its flag_unusual_month block logs
    a WARNING naming what is unusual, and unusual_months lists the month. The real 2019-08 loaded
    again is like its neighbours: the run says so and the month is off the list."""
    from utils.steps.taxi_pipeline import clean_month, export_month_to_postgres, extract_month

    for month in (5, 6, 7, 9, 10, 11):
        export_month_to_postgres(clean_month(extract_month({'service': 'fhv', 'year': 2019, 'month': month})))
    august = REPO / 'samples' / 'fhv' / 'fhv_tripdata_2019-08.csv.gz'
    served('fhv', 2019, 8, b'\n'.join(gzip.decompress(august.read_bytes()).split(b'\n')[:11]) + b'\n')
    fhv = {'service': 'fhv', 'year': 2019, 'month': 8}

    small = mage_run(REPO, 'api_to_postgres', taxi_env, fhv)
    assert small.returncode == 0, small.output[-3000:]
    flagged = (
        'fhv 2019-08 is unlike its neighbours (2019-05, 2019-06, 2019-07, 2019-09, 2019-10, 2019-11): 10 rows '
        'read where its 6 neighbours read 100 (under 1/3 of the fewest: unusual_rows_ratio 3)'
    )
    assert f'WARNING utils.steps.month_check: {flagged}' in small.output, small.output[-3000:]
    assert small.output.count('1/1 tests passed.') == 6  # flag_unusual_month's inline test too
    assert query(pg, 'SELECT service, month, pipeline_uuid, findings FROM ny_taxi.unusual_months') == [
        ('fhv', date(2019, 8, 1), 'api_to_postgres', flagged)
    ]

    served('fhv', 2019, 8, august.read_bytes(), gzipped=True)
    real = mage_run(REPO, 'api_to_postgres', taxi_env, fhv)
    assert real.returncode == 0, real.output[-3000:]
    assert 'fhv 2019-08 is like its neighbours (2019-05, 2019-06, 2019-07, 2019-09, 2019-10, 2019-11)' in real.output
    assert query(pg, 'SELECT count(*) FROM ny_taxi.unusual_months') == [(0,)]


def test_yellow_of_the_coordinate_years_is_refused_before_its_download(pg, taxi_env):
    """yellow 2010-05 from the TLC: refused naming its layout and the months that load, before any
    download (the TLC's address here is a port nobody listens on: a download would fail otherwise)."""
    from scripts.stack.processes import free_port

    env = {**taxi_env, 'TLC_TRIP_DATA_URL': f'http://127.0.0.1:{free_port()}/trip-data'}
    run = mage_run(REPO, 'api_to_postgres', env, {'service': 'yellow', 'year': 2010, 'month': 5, 'source': 'tlc'})
    assert run.returncode != 0
    assert (
        "MonthRefusedError: yellow 2010-05 (tlc) is refused: the TLC's parquet of yellow 2009-01..2010-12 has that "
        "period's own layout" in run.output
    ), run.output[-3000:]
    assert 'yellow loads from the TLC (2011-01 to about two months ago, source=tlc)' in run.output
    assert 'ConnectionError' not in run.output and 'Connection refused' not in run.output
