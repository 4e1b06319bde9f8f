from datetime import date, datetime

import psycopg2
import pyarrow as pa
import pytest
from conftest import query, small_disk, table_fingerprint, undescribed

from utils.domain.taxi_schema import schema_for
from utils.sinks.postgres_load import ChunkStream, LoadError, binary_copy, check_identifier, count_month, replace_month

YELLOW = schema_for('yellow')
JAN, FEB = date(2021, 1, 1), date(2021, 2, 1)


def trips(n: int, start: int = 0, batch_rows: int = 1000) -> list[pa.RecordBatch]:
    """n clean yellow rows, ids start..start+n, with a null in every nullable column of row 0."""
    schema = YELLOW.arrow_schema(clean=True)
    out = []
    for lo in range(start, start + n, batch_rows):
        ids = list(range(lo, min(lo + batch_rows, start + n)))
        cols = {}
        for f in schema:
            if f.type == pa.int64():
                cols[f.name] = pa.array(list(ids), pa.int64())
            elif f.type == pa.float64():
                cols[f.name] = pa.array([i / 4 for i in ids])
            elif f.type == pa.string():
                cols[f.name] = pa.array([None if i == 0 else 'N' for i in ids])
            else:
                cols[f.name] = pa.array([datetime(2021, 1, 1, 0, 0, i % 60) for i in ids], pa.timestamp('us'))
        out.append(pa.RecordBatch.from_pydict(cols, schema=schema))
    return out


def load(pg, month, batches, schema_name='ny_taxi'):
    return replace_month(pg, schema_name=schema_name, taxi_schema=YELLOW, month=month, batches=batches)


def test_rows_and_types_arrive(pg):
    assert load(pg, JAN, trips(2500)) == 2500
    assert undescribed(pg, 'ny_taxi.yellow_taxi_data') == []  # \d+ explains every column
    row = query(
        pg,
        'SELECT vendor_id, fare_amount, store_and_fwd_flag, tpep_pickup_datetime, source_month '
        'FROM ny_taxi.yellow_taxi_data WHERE vendor_id = 3',
    )[0]
    assert row == (3, 0.75, 'N', datetime(2021, 1, 1, 0, 0, 3), JAN)
    assert query(pg, 'SELECT store_and_fwd_flag IS NULL FROM ny_taxi.yellow_taxi_data WHERE vendor_id = 0') == [(True,)]


def test_rerun_replaces_the_month_and_keeps_others(pg):
    load(pg, JAN, trips(100))
    load(pg, FEB, trips(50, start=1000))
    feb = table_fingerprint(pg, 'ny_taxi.yellow_taxi_data_2021_02')
    load(pg, JAN, trips(70))
    assert count_month(pg, 'ny_taxi', 'yellow', JAN) == 70
    assert table_fingerprint(pg, 'ny_taxi.yellow_taxi_data_2021_02') == feb
    assert query(pg, 'SELECT count(*) FROM ny_taxi.yellow_taxi_data') == [(120,)]


def test_failure_mid_copy_leaves_the_month_as_it_was(pg):
    load(pg, JAN, trips(300))
    before = table_fingerprint(pg, 'ny_taxi.yellow_taxi_data')

    def batches_then_failure():
        yield from trips(200)
        raise OSError('disk gone while reading clean.parquet')

    with pytest.raises(Exception, match='disk gone'):
        load(pg, JAN, batches_then_failure())
    assert table_fingerprint(pg, 'ny_taxi.yellow_taxi_data') == before
    assert query(pg, "SELECT to_regclass('ny_taxi.yellow_taxi_data_2021_01__staging')") == [(None,)]


def test_values_arrive_bit_exact(pg):
    """Binary COPY: no float or timestamp is formatted as text on the way."""
    batch = trips(3)[0]
    fares = [0.1 + 0.2, 1 / 3, 5e-324]
    pickups = [
        datetime(2021, 1, 1, 0, 0, 0, 123456),
        datetime(1999, 12, 31, 23, 59, 59, 999999),
        datetime(2021, 1, 31, 23, 59, 59),
    ]
    batch = batch.set_column(10, 'fare_amount', pa.array(fares))
    batch = batch.set_column(1, 'tpep_pickup_datetime', pa.array(pickups, pa.timestamp('us')))
    load(pg, JAN, [batch])
    assert query(
        pg, 'SELECT fare_amount, tpep_pickup_datetime FROM ny_taxi.yellow_taxi_data ORDER BY vendor_id'
    ) == list(zip(fares, pickups, strict=False))


def test_server_rejecting_a_row_rolls_back(pg):
    load(pg, JAN, trips(10))
    before = table_fingerprint(pg, 'ny_taxi.yellow_taxi_data')
    bad = trips(5)[0]
    # text PostgreSQL cannot store (a NUL byte, as in a damaged file): the server aborts the COPY
    bad = bad.set_column(6, 'store_and_fwd_flag', pa.array(['N', 'N', 'Y\x00', 'N', 'N']))
    with pytest.raises(psycopg2.errors.CharacterNotInRepertoire, match='0x00'):
        load(pg, JAN, [bad])
    assert table_fingerprint(pg, 'ny_taxi.yellow_taxi_data') == before


def test_batches_of_another_schema_are_refused(pg):
    load(pg, JAN, trips(10))
    before = table_fingerprint(pg, 'ny_taxi.yellow_taxi_data')
    bad = trips(5)[0]
    bad = bad.set_column(0, 'vendor_id', pa.array(['1'] * 5))
    with pytest.raises(LoadError, match=r'a batch to load has the columns vendor_id: string.*left as it was'):
        load(pg, JAN, [bad])
    assert table_fingerprint(pg, 'ny_taxi.yellow_taxi_data') == before


def test_existing_table_with_other_columns_is_refused(pg):
    query_sql = 'CREATE SCHEMA ny_taxi; CREATE TABLE ny_taxi.yellow_taxi_data (id int); INSERT INTO ny_taxi.yellow_taxi_data VALUES (1)'
    with pg.cursor() as cur:
        cur.execute(query_sql)
    with pytest.raises(ValueError, match=r'ny_taxi.yellow_taxi_data exists with other columns'):
        load(pg, JAN, trips(3))
    assert query(pg, 'SELECT * FROM ny_taxi.yellow_taxi_data') == [(1,)]


@pytest.mark.parametrize('name', ['ny_taxi; DROP TABLE x', 'NyTaxi', '1abc', '', 'a' * 64, 'ny-taxi', 'ny"taxi'])
def test_injection_and_bad_identifiers_are_refused(name):
    with pytest.raises(ValueError, match='is not a valid identifier'):
        check_identifier(name, 'POSTGRES_SCHEMA')


def test_bad_schema_setting_touches_nothing(pg):
    with pytest.raises(ValueError, match="POSTGRES_SCHEMA 'x; DROP SCHEMA public' is not a valid identifier"):
        load(pg, JAN, trips(3), schema_name='x; DROP SCHEMA public')
    assert query(pg, "SELECT count(*) FROM pg_namespace WHERE nspname = 'public'") == [(1,)]


def test_binary_stream_reads_in_pieces():
    batches = trips(2000, batch_rows=700)
    whole = b''.join(binary_copy(batches, YELLOW.arrow_schema(clean=True)))
    stream = ChunkStream(binary_copy(batches, YELLOW.arrow_schema(clean=True)))
    pieces = []
    while piece := stream.read(4096):
        assert len(piece) <= 4096
        pieces.append(piece)
    assert b''.join(pieces) == whole
    assert whole.startswith(b'PGCOPY\n\xff\r\n\0') and whole.endswith(b'\xff\xff')  # header, trailer
    assert stream.bytes_read == len(whole)


def test_server_killing_the_session_mid_copy_loses_nothing(pg_server, pg):
    """A real fault: another session runs pg_terminate_backend() on the loading connection
    while COPY is streaming. The month keeps its old rows; a rerun loads exactly the new ones."""
    load(pg, JAN, trips(300))
    load(pg, FEB, trips(40, start=5000))
    before = table_fingerprint(pg, 'ny_taxi.yellow_taxi_data')

    loader = pg_server.connect()
    victim = loader.get_backend_pid()

    def batches_then_kill():
        for i, batch in enumerate(trips(50_000, batch_rows=5000)):
            if i == 3:  # COPY is under way: kill its session from outside
                killer = pg_server.connect()
                killer.autocommit = True
                with killer.cursor() as cur:
                    cur.execute('SELECT pg_terminate_backend(%s)', (victim,))
                killer.close()
            yield batch

    with pytest.raises(LoadError, match=r'loading ny_taxi.yellow_taxi_data for 2021-01 failed: .*left as it was'):
        load(loader, JAN, batches_then_kill())
    assert loader.closed
    assert table_fingerprint(pg, 'ny_taxi.yellow_taxi_data') == before
    assert query(pg, "SELECT to_regclass('ny_taxi.yellow_taxi_data_2021_01__staging')") == [(None,)]

    rerun = pg_server.connect()
    assert load(rerun, JAN, trips(1234)) == 1234
    rerun.close()
    assert count_month(pg, 'ny_taxi', 'yellow', JAN) == 1234
    assert count_month(pg, 'ny_taxi', 'yellow', FEB) == 40


def test_interleaved_reruns_end_like_one_clean_run(pg_server, pg):
    """Jan, Feb, Jan, Feb, Jan in schema ny_taxi vs Jan, Feb once in a fresh schema: same rows."""
    jan, feb = trips(800), trips(300, start=9000)
    for month, batches in [(JAN, jan), (FEB, feb), (JAN, jan), (FEB, feb), (JAN, jan)]:
        load(pg, month, batches)
    with pg.cursor() as cur:
        cur.execute('DROP SCHEMA IF EXISTS once CASCADE')
    load(pg, JAN, jan, schema_name='once')
    load(pg, FEB, feb, schema_name='once')
    assert table_fingerprint(pg, 'ny_taxi.yellow_taxi_data') == table_fingerprint(pg, 'once.yellow_taxi_data')
    assert table_fingerprint(pg, 'ny_taxi.yellow_taxi_data')[0] == 1100


@pytest.fixture()
def tiny_tablespace(pg_server, pg):
    """A real disk that fills up: a 4 MB tmpfs mounted as a PostgreSQL tablespace."""
    with small_disk('4m', owner='postgres') as mount:
        with pg.cursor() as cur:
            cur.execute(f"CREATE TABLESPACE tiny LOCATION '{mount}'")
        try:
            yield 'tiny'
        finally:
            with pg.cursor() as cur:
                cur.execute('DROP SCHEMA IF EXISTS ny_taxi CASCADE')
                cur.execute('DROP TABLESPACE IF EXISTS tiny')


def test_disk_full_mid_copy_leaves_the_month_and_a_rerun_works(pg_server, pg, tiny_tablespace):
    load(pg, JAN, trips(500))
    before = table_fingerprint(pg, 'ny_taxi.yellow_taxi_data')
    full = pg_server.connect()
    with full.cursor() as cur:  # this session's new tables (the staging table) go to the tiny disk
        cur.execute(f'SET default_tablespace = {tiny_tablespace}')
    full.commit()
    with pytest.raises(LoadError, match='No space left on device; the table was left as it was') as e:
        load(full, JAN, trips(200_000, batch_rows=20_000))
    assert isinstance(e.value.__cause__, psycopg2.errors.DiskFull)
    full.close()
    assert table_fingerprint(pg, 'ny_taxi.yellow_taxi_data') == before
    assert load(pg, JAN, trips(2000)) == 2000
    assert count_month(pg, 'ny_taxi', 'yellow', JAN) == 2000


def test_two_months_of_one_table_load_at_the_same_time(pg_server, pg):
    """A backfill run again: two months of one table that both exist, both mid-COPY at once (a
    barrier holds them there), then both swap in. With the COPY in the swap's transaction both
    held a lock on the table while each waited for the other's: `deadlock detected`."""
    import threading

    load(pg, JAN, trips(10))
    load(pg, FEB, trips(10, start=500))
    barrier = threading.Barrier(2, timeout=30)
    errors = []

    def batches(start):
        for i, batch in enumerate(trips(6000, start=start, batch_rows=1000)):
            if i == 2:
                barrier.wait()  # both COPYs are under way
            yield batch

    def run(month, start):
        conn = pg_server.connect()
        try:
            load(conn, month, batches(start))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            conn.close()

    threads = [threading.Thread(target=run, args=a) for a in ((JAN, 0), (FEB, 100_000))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert (count_month(pg, 'ny_taxi', 'yellow', JAN), count_month(pg, 'ny_taxi', 'yellow', FEB)) == (6000, 6000)


def test_a_long_copy_reports_its_progress(pg, monkeypatch, caplog):
    """A COPY fed slowly (a batch every 0.3 s, as a slow disk would) says how far it got."""
    import logging
    import time as clock

    monkeypatch.setenv('TAXI_PROGRESS_SECONDS', '0.5')
    caplog.set_level(logging.INFO, logger='utils.domain.progress')

    def slowly():
        for batch in trips(8000, batch_rows=1000):
            clock.sleep(0.3)
            yield batch

    assert load(pg, JAN, slowly()) == 8000
    lines = [r.getMessage() for r in caplog.records if r.name == 'utils.domain.progress']
    assert len(lines) >= 3, lines
    assert all(m.startswith('COPY into ny_taxi.yellow_taxi_data_2021_01__staging: ') for m in lines), lines
