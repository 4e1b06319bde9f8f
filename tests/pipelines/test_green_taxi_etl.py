"""green_taxi_etl, the module-2 homework, end to end as students run it:
`mage run <repo> green_taxi_etl --test --runtime-vars '{"year": 2020, "months": [10, 11, 12]}'`,
against a real PostgreSQL, the GCS emulator and a real HTTP server holding the bundled REAL green
quarter (2020-10 as the course serves it; 11 and 12 converted back from a student's parquet of
the course's files, samples/PROVENANCE.md); the homework's answers checked against its pandas
transformer (tests/course_oracle.py) and against the figures the homework publishes."""

import pytest
from conftest import GREEN_MONTH, REPO, SAMPLES, mage_run, query, table_fingerprint, undescribed
from course_oracle import homework_transform

from utils.sinks.environment import storage_client

pytestmark = pytest.mark.mage
TABLE = 'mage.green_taxi'
QUARTER = [SAMPLES / 'green' / f'green_tripdata_2020-{m}.csv.gz' for m in (10, 11, 12)]


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


def test_the_homework_on_its_real_quarter(homework_env, pg):
    run = mage_run(REPO, 'green_taxi_etl', homework_env, {'year': 2020, 'months': [10, 11, 12]})
    assert run.returncode == 0, run.output[-3000:]
    assert run.output.count('1/1 tests passed.') == 5  # every block's inline test ran

    expected = homework_transform(QUARTER)
    # Q1 and Q2 as the homework publishes them (266,855 x 20 read; 139,370 kept)
    assert 'load_green_taxi_months: 266,855 rows in 3 months of 2020' in run.output
    assert len(expected) == 139_370
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
    assert len(by_day) == 95  # Q6: the homework's choices say 96 (docs/homework.md says why)
    assert partition_rows(homework_env) == {str(d): n for d, n in by_day.items()}  # Q6: partitions
    once = (table_fingerprint(pg, TABLE), objects(homework_env))

    october = mage_run(REPO, 'green_taxi_etl', homework_env, {'year': 2020, 'months': '[10]'})  # as the UI sends it
    assert october.returncode == 0, october.output[-3000:]
    only = homework_transform([GREEN_MONTH])
    assert query(pg, f'SELECT count(*) FROM {TABLE}') == [(len(only),)]  # replaced, not appended
    assert partition_rows(homework_env) == {str(d): n for d, n in only.groupby('lpep_pickup_date').size().items()}

    again = mage_run(REPO, 'green_taxi_etl', homework_env, {'year': 2020, 'months': [10, 11, 12]})
    assert again.returncode == 0, again.output[-3000:]
    assert (table_fingerprint(pg, TABLE), objects(homework_env)) == once  # the same quarter again


def test_a_missing_month_fails_naming_it_and_writes_nothing(homework_env, pg):
    first = mage_run(REPO, 'green_taxi_etl', homework_env, {'year': 2020, 'months': [10]})
    assert first.returncode == 0, first.output[-3000:]
    before = (table_fingerprint(pg, TABLE), objects(homework_env))
    run = mage_run(REPO, 'green_taxi_etl', homework_env, {'year': 2020, 'months': [9, 10]})
    assert run.returncode != 0
    assert 'green/green_tripdata_2020-09.csv.gz answered HTTP 404' in run.output, run.output[-3000:]
    assert (table_fingerprint(pg, TABLE), objects(homework_env)) == before


@pytest.mark.parametrize('months', [[], [13], 'October', [10, 10], [10.5]])
def test_bad_months_are_named_and_nothing_is_written(homework_env, pg, months):
    run = mage_run(REPO, 'green_taxi_etl', homework_env, {'year': 2020, 'months': months})
    assert run.returncode != 0
    assert 'pipeline variable months=' in run.output, run.output[-3000:]
    assert table_fingerprint(pg, TABLE) is None and objects(homework_env) == {}
