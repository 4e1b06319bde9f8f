"""postgres_marts (Mage SQL blocks) end to end through `mage run --test`, on the bundled REAL
months (yellow 2021-01 sample, green 2020-10) loaded by api_to_postgres into a real PostgreSQL:
the mart's figures against the course's computation in pandas (tests/course_oracle.py)."""

import gzip

import pytest
from conftest import GREEN_MONTH, REPO, YELLOW_SAMPLE, mage_run, query, table_fingerprint, undescribed
from course_oracle import course_clean, mart_figures

pytestmark = pytest.mark.mage
YELLOW = {'service': 'yellow', 'year': 2021, 'month': 1}
GREEN = {'service': 'green', 'year': 2020, 'month': 10}


def mart(pg) -> dict:
    """{(zone, month, service): (trips, total_amount, avg_distance)} of the mart."""
    rows = query(
        pg,
        'SELECT revenue_zone, revenue_month, service_type, total_monthly_trips, '
        'revenue_monthly_total_amount, avg_monthly_trip_distance FROM ny_taxi.dm_monthly_zone_revenue',
    )
    return {r[:3]: (r[3], pytest.approx(r[4]), pytest.approx(r[5])) for r in rows}


def load_and_refresh(env, variables):
    for pipeline in ('api_to_postgres', 'postgres_marts'):
        run = mage_run(REPO, pipeline, env, variables)
        assert run.returncode == 0, run.output[-3000:]
    return run


def test_the_mart_equals_the_course_computation(pg, taxi_env):
    load_and_refresh(taxi_env, YELLOW)
    run = load_and_refresh(taxi_env, GREEN)
    assert run.output.count('1/1 tests passed.') == 4  # the Python blocks' inline tests
    assert mart(pg) == mart_figures([('yellow', YELLOW_SAMPLE), ('green', GREEN_MONTH)])
    assert query(pg, 'SELECT zone FROM ny_taxi.dim_zones WHERE location_id IN (264, 265) ORDER BY 1') == [
        ('NA',),
        ('NV',),
    ]
    by_borough = query(
        pg,
        'SELECT revenue_month, service_type, sum(total_monthly_trips), sum(revenue_monthly_total_amount) '
        'FROM ny_taxi.dm_monthly_borough_trips GROUP BY 1, 2',
    )  # the mart added as one model
    by_zone = {}
    for (_zone, month, service), (trips, total, _) in mart(pg).items():
        by_zone.setdefault((month, service), [0, 0.0])
        by_zone[(month, service)][0] += trips
        by_zone[(month, service)][1] += total.expected
    assert {(m, s): (n, pytest.approx(a)) for m, s, n, a in by_borough} == {k: tuple(v) for k, v in by_zone.items()}
    for table in ('dim_zones', 'fact_trips', 'dm_monthly_zone_revenue', 'dm_monthly_borough_trips', 'green_taxi_data'):
        assert undescribed(pg, f'ny_taxi.{table}') == [], table  # the data dictionary, for \d+
    kept = len(course_clean(GREEN_MONTH, 'green'))
    in_fact = query(pg, "SELECT count(*) FROM ny_taxi.fact_trips WHERE service_type = 'Green'")[0][0]
    assert (
        f'report_mart_refresh: green 2020-10: {in_fact:,} trips in fact_trips, {kept - in_fact:,} left out'
        in run.output
    )


def test_reloading_a_month_changes_exactly_its_contribution(pg, taxi_env, served, tmp_path):
    load_and_refresh(taxi_env, YELLOW)
    load_and_refresh(taxi_env, GREEN)
    green_before = {k: v for k, v in mart(pg).items() if k[2] == 'Green'}
    lines = gzip.decompress(YELLOW_SAMPLE.read_bytes()).splitlines(keepends=True)
    smaller = tmp_path / 'yellow_tripdata_2021-01.csv.gz'
    smaller.write_bytes(gzip.compress(b''.join(lines[:600]), mtime=0))
    served('yellow', 2021, 1, smaller.read_bytes(), gzipped=True)
    twice = mart(pg)
    load_and_refresh(taxi_env, YELLOW)
    after = mart(pg)
    assert {k: v for k, v in after.items() if k[2] == 'Green'} == green_before
    assert {k: v for k, v in after.items() if k[2] == 'Yellow'} == mart_figures([('yellow', smaller)])
    assert after != twice


def test_a_refresh_failing_midway_leaves_the_previous_mart(pg, taxi_env):
    load_and_refresh(taxi_env, YELLOW)
    before = (table_fingerprint(pg, 'ny_taxi.fact_trips'), table_fingerprint(pg, 'ny_taxi.int_monthly_zone_revenue'))
    with pg.cursor() as cur:  # the INSERT after the DELETE now fails: both roll back
        cur.execute('ALTER TABLE ny_taxi.yellow_taxi_data RENAME COLUMN trip_distance TO distance')
    try:
        run = mage_run(REPO, 'postgres_marts', taxi_env, YELLOW)
    finally:
        with pg.cursor() as cur:
            cur.execute('ALTER TABLE ny_taxi.yellow_taxi_data RENAME COLUMN distance TO trip_distance')
    assert run.returncode != 0 and 'trip_distance' in run.output, run.output[-3000:]
    assert (
        table_fingerprint(pg, 'ny_taxi.fact_trips'),
        table_fingerprint(pg, 'ny_taxi.int_monthly_zone_revenue'),
    ) == before


@pytest.mark.parametrize(
    'change, message',
    [
        (lambda text: text.replace('"service_zone"', '"zone_type"'), 'line 1: the header is'),
        (lambda text: text.replace('\n5,', '\n4,', 1), 'line 6: LocationID 4 was given already on line 5'),
        (lambda text: text.replace('\n7,', '\nseven,', 1), "line 8: LocationID 'seven' is not a whole number"),
    ],
)
def test_a_bad_zone_lookup_is_refused_naming_the_line(pg, taxi_env, source_root, change, message):
    load_and_refresh(taxi_env, YELLOW)
    before = table_fingerprint(pg, 'ny_taxi.dim_zones')
    served_zones = source_root / 'misc' / 'taxi_zone_lookup.csv'
    good = served_zones.read_text()
    served_zones.write_text(change(good))
    try:
        run = mage_run(REPO, 'postgres_marts', taxi_env, YELLOW)
    finally:
        served_zones.write_text(good)
    assert run.returncode != 0 and message in run.output, run.output[-3000:]
    assert table_fingerprint(pg, 'ny_taxi.dim_zones') == before
