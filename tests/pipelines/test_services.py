"""Every service from each release it is in, offline, through the session's `make up` server.

`make up` itself loads yellow 2021-01 and green 2020-10 from the course's release; here the
other pairs: fhv and fhvhv from both releases, yellow and green from the TLC's parquet. The
mirror serves the bundled samples (real rows; samples/PROVENANCE.md). What each table should
hold is counted here again with pandas from the served file: rows the service's rule keeps.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from utils.sinks.environment import REPO_ROOT

pytestmark = pytest.mark.mage
SAMPLES = REPO_ROOT / 'samples'

LOADS = [  # (service, source, year, month, its file in samples/)
    ('fhv', 'course', 2019, 1, 'fhv/fhv_tripdata_2019-01.csv.gz'),
    ('fhvhv', 'course', 2019, 2, 'fhvhv/fhvhv_tripdata_2019-02.csv.gz'),
    ('fhvhv', 'course', 2021, 6, 'fhvhv/fhvhv_tripdata_2021-06.csv.gz'),  # SR_Flag written N
    ('fhv', 'tlc', 2019, 3, None),  # not in the TLC release offline: the error says what it has
    ('fhv', 'tlc', 2019, 1, 'trip-data/fhv_tripdata_2019-01.parquet'),
    ('fhvhv', 'tlc', 2019, 2, 'trip-data/fhvhv_tripdata_2019-02.parquet'),
    ('yellow', 'tlc', 2021, 1, 'trip-data/yellow_tripdata_2021-01.parquet'),
    ('green', 'tlc', 2025, 1, 'trip-data/green_tripdata_2025-01.parquet'),
]


def stack_bigquery(stack, monkeypatch):
    """A client of the BigQuery emulator the session's `make up` runs."""
    from dotenv import dotenv_values

    from utils.sinks.environment import bigquery_client

    settings = {**dotenv_values(REPO_ROOT / 'dev.env'), **stack.env}  # as `make up` reads them
    for name in ('IO_CONFIG_PROFILE', 'GOOGLE_PROJECT_ID', 'GOOGLE_LOCATION', 'BIGQUERY_EMULATOR_URL'):
        monkeypatch.setenv(name, settings[name])
    return bigquery_client()


def kept_by_the_course(service: str, path: Path) -> int:
    """The rows the course keeps, by pandas: passenger_count > 0 (taxis), a dispatching base (FHV)."""
    frame = pd.read_parquet(path) if path.suffix == '.parquet' else pd.read_csv(path, low_memory=False)
    frame.columns = [c.lower() for c in frame.columns]
    if service in ('yellow', 'green'):
        return int((frame['passenger_count'] > 0).sum())
    return int(frame['dispatching_base_num'].notna().sum())


@pytest.mark.parametrize(
    'service, source, year, month, file', LOADS, ids=[f'{s}-{r}-{y}-{m:02d}' for s, r, y, m, _ in LOADS]
)
def test_a_month_of_each_service_loads_from_each_release(stack, db, service, source, year, month, file):
    run = stack.mage.run(
        'api_to_postgres', {'service': service, 'year': year, 'month': month, 'source': source}, timeout=600
    )
    if file is None:
        assert (run.status, run.failed_blocks) == ('failed', ['load_taxi_csv']), run
        assert "(no such file: the TLC's parquet release has fhv from 2015-01 to about two months ago)" in run.error
        return
    assert run.ok, (run.describe(), run.error)
    expected = kept_by_the_course(service, SAMPLES / file)
    assert run.rows == expected > 0
    with db.cursor() as cur:
        cur.execute(
            f'SELECT count(*) FROM ny_taxi.{service}_taxi_data WHERE source_month = %s', (f'{year}-{month:02d}-01',)
        )
        assert cur.fetchone()[0] == expected
    log = stack.mage.block_log('api_to_postgres', run.run_id, 'load_taxi_csv')
    assert f'load_taxi_csv: {service} {year}-{month:02d}{" (tlc)" if source == "tlc" else ""}, ' in log
    if (service, year) == ('fhvhv', 2021):  # the course's 2021 SR_Flag: N, not shared, is NULL
        with db.cursor() as cur:
            cur.execute(
                'SELECT count(*), count(sr_flag) FROM ny_taxi.fhvhv_taxi_data WHERE source_month = %s', ('2021-06-01',)
            )
            assert cur.fetchone() == (expected, 0)
    if (service, year) in (('green', 2025), ('fhvhv', 2021)):  # months no other test expects in the table
        with db.cursor() as cur:
            cur.execute(f'DROP TABLE ny_taxi.{service}_taxi_data_{year}_{month:02d}')


@pytest.mark.parametrize('service, source, year, month', [('fhv', 'course', 2019, 1), ('fhvhv', 'tlc', 2019, 2)])
def test_the_fhv_services_go_through_gcs_to_bigquery(stack, service, source, year, month):
    variables = {'service': service, 'year': year, 'month': month, 'source': source}
    to_gcs = stack.mage.run('api_to_gcs', variables, timeout=600)
    assert to_gcs.ok, (to_gcs.describe(), to_gcs.error)
    to_bigquery = stack.mage.run('gcs_to_bigquery', variables, timeout=600)
    assert to_bigquery.ok, (to_bigquery.describe(), to_bigquery.error)
    assert to_bigquery.rows == to_gcs.rows > 0
    log = stack.mage.block_log('gcs_to_bigquery', to_bigquery.run_id, 'export_taxi_to_bigquery')
    assert f'ny_taxi.{service}_tripdata for {year}-{month:02d}' in log


def test_the_fhv_marts_hold_the_month_s_located_trips_in_both_warehouses(stack, db, monkeypatch):
    """postgres_marts and bigquery_marts with service=fhv build fact_fhv_trips (the course's module
    4): the month's trips whose pickup and drop-off zones are known, counted here with pandas from
    the served file and the zone lookup; the taxis' fact_trips is left as it was."""
    from course_oracle import zone_lookup

    frame = pd.read_csv(SAMPLES / 'fhv' / 'fhv_tripdata_2019-02.csv.gz').rename(columns=str.lower)
    zones = zone_lookup(SAMPLES / 'misc' / 'taxi_zone_lookup.csv')
    known = set(zones.loc[zones['Borough'] != 'Unknown', 'LocationID'])
    located = int(
        (
            frame['dispatching_base_num'].notna()
            & frame['pulocationid'].isin(known)
            & frame['dolocationid'].isin(known)
        ).sum()
    )
    assert 0 < located < len(frame)  # real FHV rows: many without a known zone
    with db.cursor() as cur:
        cur.execute('SELECT service_type, source_month, count(*) FROM ny_taxi.fact_trips GROUP BY 1, 2 ORDER BY 1, 2')
        taxis_before = cur.fetchall()
    variables = {'service': 'fhv', 'year': 2019, 'month': 2}
    for pipeline in ('api_to_postgres', 'postgres_marts', 'api_to_gcs', 'gcs_to_bigquery', 'bigquery_marts'):
        run = stack.mage.run(pipeline, variables, timeout=600)
        assert run.ok, (pipeline, run.describe(), run.error)
        if pipeline.endswith('_marts'):
            log = stack.mage.block_log(pipeline, run.run_id, 'report_mart_refresh')
            assert f'fhv 2019-02: {located:,} trips in fact_fhv_trips, {100 - located:,} left out' in log, log[-2000:]
    with db.cursor() as cur:
        cur.execute("SELECT count(*), count(pickup_zone) FROM ny_taxi.fact_fhv_trips WHERE source_month = '2019-02-01'")
        assert cur.fetchone() == (located, located)
        cur.execute('SELECT service_type, source_month, count(*) FROM ny_taxi.fact_trips GROUP BY 1, 2 ORDER BY 1, 2')
        assert cur.fetchall() == taxis_before
    (row,) = (
        stack_bigquery(stack, monkeypatch)
        .query("SELECT count(*) AS n FROM `local-project.ny_taxi.fact_fhv_trips` WHERE source_month = '2019-02-01'")
        .result()
    )
    assert row.n == located


def test_a_backfill_asked_again_skips_the_unchanged_months_and_loads_a_republished_one(stack, db):
    """fhv 2019 (the 12 bundled months) backfilled twice: the second time every month is
    skipped with one log line and a 'skipped' audit row, except the one republished between the
    two (its file rewritten: a new Last-Modified); a Run@once of a month loads it whatever."""
    import os
    import time
    from datetime import date

    mage = stack.mage

    def backfill(name: str):
        started = time.monotonic()
        made = mage.create_backfill('api_to_postgres', name, date(2019, 1, 1), date(2019, 12, 1), {'service': 'fhv'})
        results = mage.wait_for_backfill(made['id'], months=12, timeout=900)
        assert all(r.ok for r in results), [(r.execution_date, r.error) for r in results if not r.ok]
        return results, time.monotonic() - started

    first, first_seconds = backfill('fhv 2019, first time')
    republished = stack.checkout / 'samples' / 'fhv' / 'fhv_tripdata_2019-06.csv.gz'
    later = republished.stat().st_mtime + 86_400
    os.utime(republished, (later, later))
    second, second_seconds = backfill('fhv 2019, again')
    print(f'fhv 2019 backfill: {first_seconds:.1f} s the first time, {second_seconds:.1f} s the second')
    for before, again in zip(first, second, strict=True):
        month = again.execution_date[:7]
        log = mage.block_log('api_to_postgres', again.run_id, 'load_taxi_csv')
        assert again.rows == before.rows, month  # the same rows in the table either way
        # the run that read the file: the first backfill's, or the one before it if that one
        # skipped the month too (another test of the session loaded it, e.g. fhv 2019-02)
        skipped_then = re.search(
            r'unchanged since run (\d+) loaded it', mage.block_log('api_to_postgres', before.run_id, 'load_taxi_csv')
        )
        loaded_by = int(skipped_then.group(1)) if skipped_then else before.run_id
        if month == '2019-06':
            assert 'unchanged since run' not in log and 'load_taxi_csv: fhv 2019-06, ' in log, log[-2000:]
        else:
            assert f'load_taxi_csv: fhv {month} unchanged since run {loaded_by} loaded it (last-modified ' in log
            export_log = mage.block_log('api_to_postgres', again.run_id, 'export_taxi_to_postgres')
            assert f'ny_taxi.fhv_taxi_data: still holds the {before.rows:,} rows of run {loaded_by}' in export_log
    with db.cursor() as cur:
        cur.execute(
            "SELECT status, count(*) FROM ny_taxi.load_audit WHERE service = 'fhv' AND block = 'load_taxi_csv' "
            'AND run_id = ANY(%s) GROUP BY 1',
            ([r.run_id for r in second],),
        )
        assert dict(cur.fetchall()) == {'skipped': 11, 'succeeded': 1}
    # a person's run loads the month again (the same version): force is theirs by default
    once = mage.run('api_to_postgres', {'service': 'fhv', 'year': 2019, 'month': 3}, timeout=600)
    assert once.ok and 'unchanged since' not in mage.block_log('api_to_postgres', once.run_id, 'load_taxi_csv')


def test_make_backfill_takes_several_services(stack):
    done = stack.make('backfill', PIPELINE='api_to_postgres', SERVICE='fhv,fhvhv', FROM='2019-04', TO='2019-05')
    assert done.returncode == 0, done.stdout + done.stderr
    for service in ('fhv', 'fhvhv'):
        assert f'({service} 2019-04..2019-05, 2 months): http' in done.stdout, done.stdout
        for month in ('2019-04', '2019-05'):
            kept = kept_by_the_course(service, SAMPLES / service / f'{service}_tripdata_{month}.csv.gz')
            assert f'{service} {month}  completed  {kept:>12,} rows' in done.stdout, done.stdout
    assert 'total: 4 months, 4 completed, 0 failed; ' in done.stdout


def test_a_raw_load_keeps_every_row_under_the_names_the_course_reads(stack, db, monkeypatch):
    """cleaning=raw: every row of the file into the _raw tables, and the views the course's module
    4 reads (prod.<service>_tripdata on PostgreSQL, nytaxi.<service>_tripdata in BigQuery) with
    the TLC's column names; the cleaned tables are untouched."""
    green = SAMPLES / 'green' / 'green_tripdata_2020-10.csv.gz'
    file_rows = len(pd.read_csv(green, low_memory=False))
    assert file_rows == 95_120  # the course's homework figure for green 2020-10
    with db.cursor() as cur:
        cur.execute("SELECT count(*) FROM ny_taxi.green_taxi_data WHERE source_month = '2020-10-01'")
        (cleaned,) = cur.fetchone()
    run = stack.mage.run(
        'api_to_postgres', {'service': 'green', 'year': 2020, 'month': 10, 'cleaning': 'raw'}, timeout=600
    )
    assert run.ok, (run.describe(), run.error)
    assert run.rows == file_rows
    with db.cursor() as cur:
        cur.execute(
            'SELECT count(*), count(vendorid), min(lpep_pickup_datetime), sum(pulocationid) > 0, '
            'count(ratecodeid) FROM prod.green_tripdata'
        )
        count, vendors, first_pickup, located, rate_codes = cur.fetchone()
        assert count == file_rows and 0 < vendors < count and located and 0 < rate_codes < count
        assert str(first_pickup).startswith('2008-12-31')  # the stray pickups of the file are kept too
        cur.execute("SELECT count(*) FROM ny_taxi.green_taxi_data WHERE source_month = '2020-10-01'")
        assert cur.fetchone()[0] == cleaned  # the cleaned month as it was

    fhv = SAMPLES / 'fhv' / 'fhv_tripdata_2019-01.csv.gz'
    variables = {'service': 'fhv', 'year': 2019, 'month': 1, 'cleaning': 'raw'}
    for pipeline in ('api_to_gcs', 'gcs_to_bigquery'):
        done = stack.mage.run(pipeline, variables, timeout=600)
        assert done.ok, (done.describe(), done.error)
    client = stack_bigquery(stack, monkeypatch)
    (row,) = client.query(
        'SELECT count(*) AS n, count(PUlocationID) AS located, min(dropOff_datetime) AS first_drop '
        'FROM `local-project.nytaxi.fhv_tripdata`'
    ).result()
    assert row.n == len(pd.read_csv(fhv)) == 100
    assert row.located == pd.read_csv(fhv)['PULocationID'].notna().sum()


def _truncated(data: bytes) -> bytes:
    return data[: len(data) * 2 // 3]


def _without_pickup(data: bytes) -> bytes:
    import io

    import pyarrow.parquet as pq

    out = io.BytesIO()
    pq.write_table(pq.read_table(io.BytesIO(data)).drop(['lpep_pickup_datetime']), out)
    return out.getvalue()


def _text_in_a_zone(data: bytes) -> bytes:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    zones = [str(v) for v in table['PULocationID'].to_pylist()]
    zones[3] = 'x'  # the 4th trip's pickup zone written as text
    out = io.BytesIO()
    pq.write_table(table.set_column(table.schema.get_field_index('PULocationID'), 'PULocationID', pa.array(zones)), out)
    return out.getvalue()


PARQUET_FAULTS = {  # SYNTHETIC faults made of the real green 2023-02 parquet (the TLC's, bundled)
    'truncated': (_truncated, 'not a readable parquet file: Parquet magic bytes not found in footer'),
    'without a required column': (_without_pickup, 'missing column(s) lpep_pickup_datetime'),
    'text in a location column': (
        _text_in_a_zone,
        "column PULocationID (string) cannot be read as int: Failed to parse string: 'x'",
    ),
}


def test_a_faulty_parquet_month_fails_naming_the_file_and_keeps_the_last_good_load(stack, db, monkeypatch):
    """The TLC's green 2023-02 loads into PostgreSQL and, through GCS, into BigQuery; then the same
    file truncated, without a required column, and with text in a location column: each run of
    api_to_postgres and api_to_gcs fails in load_taxi_csv naming the file and the reason, and the
    month keeps its good load in PostgreSQL, in GCS and (gcs_to_bigquery run again) in BigQuery."""
    month = {'service': 'green', 'year': 2023, 'month': 2, 'source': 'tlc', 'refresh_marts': False}
    served = stack.checkout / 'samples' / 'trip-data' / 'green_tripdata_2023-02.parquet'
    good = served.read_bytes()
    bigquery = stack_bigquery(stack, monkeypatch)

    def in_postgres() -> int:
        with db.cursor() as cur:
            cur.execute("SELECT count(*) FROM ny_taxi.green_taxi_data WHERE source_month = '2023-02-01'")
            return cur.fetchone()[0]

    def in_bigquery() -> int:
        query = "SELECT count(*) AS n FROM `local-project.ny_taxi.green_tripdata` WHERE source_month = '2023-02-01'"
        return next(iter(bigquery.query(query).result())).n

    for pipeline in ('api_to_postgres', 'api_to_gcs', 'gcs_to_bigquery'):
        run = stack.mage.run(pipeline, month, timeout=600)
        assert run.ok, (pipeline, run.describe(), run.error)
    kept = kept_by_the_course('green', SAMPLES / 'trip-data' / 'green_tripdata_2023-02.parquet')
    assert in_postgres() == in_bigquery() == kept > 0
    try:
        for fault, (make, reason) in PARQUET_FAULTS.items():
            served.write_bytes(make(good))
            for pipeline in ('api_to_postgres', 'api_to_gcs'):
                run = stack.mage.run(pipeline, month, timeout=600)
                assert (run.status, run.failed_blocks) == ('failed', ['load_taxi_csv']), (fault, pipeline, run)
                assert '/trip-data/green_tripdata_2023-02.parquet: ' in run.error and reason in run.error, (
                    fault,
                    run.error,
                )
            again = stack.mage.run('gcs_to_bigquery', month, timeout=600)  # from the month's last good object
            assert again.ok and again.rows == kept, (fault, again.describe(), again.error)
            assert in_postgres() == in_bigquery() == kept, fault
    finally:
        served.write_bytes(good)
