"""green_taxi_etl, the module-2 homework, end to end as students run it:
`mage run <repo> green_taxi_etl --test --runtime-vars '{"year": 2020, "months": [10]}'`, against
a real PostgreSQL, the GCS emulator and a real HTTP server holding the bundled REAL green
2020-10; the homework's answers checked against its pandas transformer (tests/course_oracle.py).
A second month is SYNTHETIC (the project's generator): the bundled mirror has October only."""

import pytest
from conftest import GREEN_MONTH, REPO, mage_run, query, table_fingerprint, undescribed
from course_oracle import homework_transform

from scripts.bench.synthetic_taxi import generate_month
from utils.sinks.environment import storage_client

pytestmark = pytest.mark.mage
TABLE = 'mage.green_taxi'


@pytest.fixture()
def homework_env(cloud_env, pg):
    with pg.cursor() as cur:
        cur.execute('DROP SCHEMA IF EXISTS mage CASCADE')
    return cloud_env


def objects(env) -> dict[str, str]:
    """{object name: md5} under the homework's prefix."""
    return {b.name: b.md5_hash for b in storage_client().list_blobs(env['GCS_BUCKET'], prefix='green_taxi/')}


def partition_rows(env) -> dict[str, int]:
    """{lpep_pickup_date: rows} read from the objects' parquet footers."""
    import pyarrow.parquet as pq

    bucket = storage_client().bucket(env['GCS_BUCKET'])
    rows: dict[str, int] = {}
    for name in objects(env):
        day = name.split('lpep_pickup_date=')[1].split('/')[0]
        with bucket.blob(name).open('rb') as f:
            rows[day] = rows.get(day, 0) + pq.ParquetFile(f).metadata.num_rows
    return rows


def test_the_homework_on_the_real_october(homework_env, pg):
    run = mage_run(REPO, 'green_taxi_etl', homework_env, {'year': 2020, 'months': [10]})
    assert run.returncode == 0, run.output[-3000:]
    assert run.output.count('1/1 tests passed.') == 5  # every block's inline test ran

    expected = homework_transform([GREEN_MONTH])
    assert 'load_green_taxi_months: 95,120 rows in 1 month of 2020' in run.output  # Q1: rows loaded
    assert query(pg, f'SELECT count(*) FROM {TABLE}') == [(len(expected),)]  # Q2: rows kept
    assert query(pg, f'SELECT round(sum(total_amount)::numeric, 2)::float, min(lpep_pickup_date) FROM {TABLE}')[0] == (
        pytest.approx(round(expected['total_amount'].sum(), 2)),
        min(expected['lpep_pickup_date']),
    )
    assert [r[0] for r in query(pg, f'SELECT DISTINCT vendor_id FROM {TABLE} ORDER BY 1')] == sorted(
        expected['vendor_id'].unique()
    )  # Q4: the existing vendor_id values
    columns = [
        r[0]
        for r in query(
            pg,
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'mage' "
            "AND table_name = 'green_taxi' ORDER BY ordinal_position",
        )
    ]
    assert columns == list(expected.columns)  # Q5: the four renamed, lpep_pickup_date added (Q3)
    assert undescribed(pg, TABLE) == []  # \d+ explains every column

    by_day = expected.groupby('lpep_pickup_date').size()
    assert partition_rows(homework_env) == {str(d): n for d, n in by_day.items()}  # Q6: partitions
    once = (table_fingerprint(pg, TABLE), objects(homework_env))

    again = mage_run(REPO, 'green_taxi_etl', homework_env, {'year': 2020, 'months': [10]})
    assert again.returncode == 0, again.output[-3000:]
    assert (table_fingerprint(pg, TABLE), objects(homework_env)) == once  # replaced, not appended


def test_two_months_replace_what_the_last_run_wrote(homework_env, pg, served, tmp_path):
    """October (real) and a SYNTHETIC November in one run: the loader reads both; then October
    alone replaces the table and the objects with October's exactly."""
    november = generate_month(
        tmp_path / 'green_tripdata_2020-11.csv.gz', rows=3_000, year=2020, month=11, seed=11, service='green'
    )
    served('green', 2020, 11, november.read_bytes(), gzipped=True)
    both = mage_run(REPO, 'green_taxi_etl', homework_env, {'year': 2020, 'months': [10, 11]})
    assert both.returncode == 0, both.output[-3000:]
    expected = homework_transform([GREEN_MONTH, november])
    assert query(pg, f'SELECT count(*) FROM {TABLE}') == [(len(expected),)]
    assert sum(partition_rows(homework_env).values()) == len(expected)

    october = mage_run(REPO, 'green_taxi_etl', homework_env, {'year': 2020, 'months': '[10]'})  # as the UI sends it
    assert october.returncode == 0, october.output[-3000:]
    only = homework_transform([GREEN_MONTH])
    assert query(pg, f'SELECT count(*) FROM {TABLE}') == [(len(only),)]
    assert partition_rows(homework_env) == {str(d): n for d, n in only.groupby('lpep_pickup_date').size().items()}


def test_a_missing_month_fails_naming_it_and_writes_nothing(homework_env, pg):
    first = mage_run(REPO, 'green_taxi_etl', homework_env, {'year': 2020, 'months': [10]})
    assert first.returncode == 0, first.output[-3000:]
    before = (table_fingerprint(pg, TABLE), objects(homework_env))
    run = mage_run(REPO, 'green_taxi_etl', homework_env, {'year': 2020, 'months': [10, 12]})
    assert run.returncode != 0
    assert 'green/green_tripdata_2020-12.csv.gz answered HTTP 404' in run.output, run.output[-3000:]
    assert (table_fingerprint(pg, TABLE), objects(homework_env)) == before


@pytest.mark.parametrize('months', [[], [13], 'October', [10, 10], [10.5]])
def test_bad_months_are_named_and_nothing_is_written(homework_env, pg, months):
    run = mage_run(REPO, 'green_taxi_etl', homework_env, {'year': 2020, 'months': months})
    assert run.returncode != 0
    assert 'pipeline variable months=' in run.output, run.output[-3000:]
    assert table_fingerprint(pg, TABLE) is None and objects(homework_env) == {}
