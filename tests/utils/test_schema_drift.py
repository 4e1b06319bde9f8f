"""The TLC's column layouts, on its own files (../shared/data/tlc, bundled in samples/trip-data/).

green 2021-01 and 2023-01 ("schema A": double codes, ehail_fee of Arrow's null type),
2023-02 ("B": int64 codes, int32 location ids, large_string flags), 2025-01 ("C": B plus
cbd_congestion_fee). Read at the edge (utils/domain/schema_drift.py), they load into one table with
one set of types, and their GCS partitions read back as one dataset with no cast.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from conftest import query

from utils.domain.cleaning import clean_file
from utils.domain.schema_drift import BadFileError
from utils.domain.taxi_files import iter_parquet_batches, tlc_parquet_to_raw
from utils.domain.taxi_schema import schema_for
from utils.sinks.environment import REPO_ROOT
from utils.sinks.postgres_load import replace_month

TRIP_DATA = REPO_ROOT / 'samples' / 'trip-data'
GREEN = schema_for('green')
MONTHS = {'2021-01': 76_518, '2023-01': 68_211, '2023-02': 64_809, '2025-01': 48_326}  # rows: PROVENANCE.md


def green_file(month: str) -> Path:
    return TRIP_DATA / f'green_tripdata_{month}.parquet'


def raw(month: str, tmp_path: Path, schema=GREEN) -> Path:
    dest = tmp_path / month / 'raw.parquet'
    assert tlc_parquet_to_raw(green_file(month), dest, schema, month) == MONTHS[month]
    return dest


def clean(month: str, tmp_path: Path, schema=GREEN) -> Path:
    dest = tmp_path / month / 'clean.parquet'
    clean_file(raw(month, tmp_path, schema), dest, schema, rules=())
    return dest


def test_the_three_layouts_really_differ():
    """What the tests below rely on: the files are the TLC's three layouts, as PROVENANCE.md says."""
    a, b, c = (pq.read_schema(green_file(m)) for m in ('2021-01', '2023-02', '2025-01'))
    assert (a.field('RatecodeID').type, b.field('RatecodeID').type) == (pa.float64(), pa.int64())
    assert (a.field('ehail_fee').type, b.field('ehail_fee').type) == (pa.null(), pa.float64())
    assert (a.field('PULocationID').type, b.field('PULocationID').type) == (pa.int64(), pa.int32())
    assert b.field('store_and_fwd_flag').type == pa.large_string()
    assert 'cbd_congestion_fee' not in b.names and c.field('cbd_congestion_fee').type == pa.float64()


def test_every_layout_reads_into_the_same_types_with_every_row(tmp_path):
    for month in MONTHS:
        path = raw(month, tmp_path)
        assert pq.read_schema(path) == GREEN.arrow_schema(), month
    codes = pq.read_table(tmp_path / '2021-01' / 'raw.parquet', columns=['RatecodeID', 'payment_type'])
    original = pq.read_table(green_file('2021-01'), columns=['RatecodeID', 'payment_type'])
    as_read = original['RatecodeID'].to_pylist()
    assert codes['RatecodeID'].to_pylist() == [None if v is None else int(v) for v in as_read]
    newest = pq.read_table(tmp_path / '2025-01' / 'raw.parquet', columns=['cbd_congestion_fee'])
    assert newest['cbd_congestion_fee'].null_count < MONTHS['2025-01']  # its values arrive
    older = pq.read_table(tmp_path / '2023-02' / 'raw.parquet', columns=['cbd_congestion_fee'])
    assert older['cbd_congestion_fee'].null_count == MONTHS['2023-02']  # NULL where the file had none


def test_columns_are_matched_by_name_case_insensitively(tmp_path):
    table = pq.read_table(green_file('2023-02'))
    renamed = table.rename_columns([n.upper() if n.startswith(('PU', 'DO')) else n.lower() for n in table.column_names])
    pq.write_table(renamed, tmp_path / 'shouting.parquet')
    dest = tmp_path / 'raw.parquet'
    assert tlc_parquet_to_raw(tmp_path / 'shouting.parquet', dest, GREEN, 'shouting') == MONTHS['2023-02']
    assert pq.read_table(dest).equals(pq.read_table(raw('2023-02', tmp_path)))


def test_a_required_column_the_file_lacks_is_named_with_the_file(tmp_path):
    table = pq.read_table(green_file('2023-02'))
    pq.write_table(table.drop_columns(['lpep_pickup_datetime']), tmp_path / 'cut.parquet')
    with pytest.raises(
        BadFileError,
        match=r'^https://x/green_tripdata_2023-02.parquet: its columns do not match '
        r'the green taxi schema \(utils/domain/taxi_schema.py\): missing column\(s\) '
        r'lpep_pickup_datetime$',
    ):
        tlc_parquet_to_raw(
            tmp_path / 'cut.parquet', tmp_path / 'raw.parquet', GREEN, 'https://x/green_tripdata_2023-02.parquet'
        )
    assert not (tmp_path / 'raw.parquet').exists()


def test_a_code_that_is_not_a_whole_number_is_named(tmp_path):
    table = pq.read_table(green_file('2021-01'))
    codes = table['payment_type'].to_pylist()
    codes[5] = 1.5
    pq.write_table(
        table.set_column(table.schema.get_field_index('payment_type'), 'payment_type', pa.array(codes, pa.float64())),
        tmp_path / 'odd.parquet',
    )
    with pytest.raises(BadFileError, match=r'^odd: column payment_type \(double\) cannot be read as int: .*1\.5'):
        tlc_parquet_to_raw(tmp_path / 'odd.parquet', tmp_path / 'raw.parquet', GREEN, 'odd')
    assert not (tmp_path / 'raw.parquet').exists()


def test_a_file_that_is_not_parquet_is_named(tmp_path):
    (tmp_path / 'x.parquet').write_bytes(b'<html>gone</html>')
    with pytest.raises(BadFileError, match=r'^the-url: not a readable parquet file'):
        tlc_parquet_to_raw(tmp_path / 'x.parquet', tmp_path / 'raw.parquet', GREEN, 'the-url')


def test_the_layouts_load_into_one_postgres_table_and_a_new_column_is_added_not_rewritten(pg, tmp_path):
    """The table is first made by the entry as it was before 2025 (no cbd_congestion_fee); the
    2025-01 month adds the column with ALTER TABLE: the months loaded before keep their files
    (the same relfilenode: not rewritten) and read NULL there."""
    before_2025 = GREEN.without('cbd_congestion_fee')
    for month in ('2021-01', '2023-01', '2023-02'):
        batches = iter_parquet_batches(clean(month, tmp_path, before_2025))
        replace_month(
            pg, schema_name='drift', taxi_schema=before_2025, month=date.fromisoformat(f'{month}-01'), batches=batches
        )
    partitions = "SELECT relname, relfilenode FROM pg_class WHERE relname LIKE 'green_taxi_data_20%%'"
    files_before = dict(query(pg, partitions))
    assert 'cbd_congestion_fee' not in [
        r[0] for r in query(pg, "SELECT column_name FROM information_schema.columns WHERE table_schema = 'drift'")
    ]

    rows = replace_month(
        pg,
        schema_name='drift',
        taxi_schema=GREEN,
        month=date(2025, 1, 1),
        batches=iter_parquet_batches(clean('2025-01', tmp_path)),
    )
    assert rows == MONTHS['2025-01']
    files_after = dict(query(pg, partitions))
    assert {k: v for k, v in files_after.items() if k in files_before} == files_before
    counts = query(
        pg,
        'SELECT source_month::text, count(*), count(cbd_congestion_fee) FROM drift.green_taxi_data '
        'GROUP BY 1 ORDER BY 1',
    )
    assert [(m[:7], n) for m, n, _ in counts] == list(MONTHS.items())
    assert [fees for *_, fees in counts][:3] == [0, 0, 0] and counts[3][2] > 0
    types = query(
        pg,
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'drift' "
        "AND table_name = 'green_taxi_data' AND column_name IN ('rate_code_id', 'pu_location_id', "
        "'ehail_fee', 'store_and_fwd_flag') ORDER BY 1",
    )
    assert types == [
        ('ehail_fee', 'double precision'),
        ('pu_location_id', 'bigint'),
        ('rate_code_id', 'bigint'),
        ('store_and_fwd_flag', 'text'),
    ]


def test_the_gcs_partitions_of_the_layouts_read_back_as_one_dataset_with_no_cast(tmp_path):
    """The hive folders pickup_date=YYYY-MM-DD of the four months, as the partitioned exporter
    writes them: pyarrow and DuckDB read them as one dataset, types as they were written."""
    import duckdb

    from utils.domain.taxi_source import TaxiMonth
    from utils.sinks.gcs_io import write_partitions

    out = tmp_path / 'green_partitioned'
    for month in MONTHS:  # each month written apart, then put together, as the uploads do in GCS
        year, number = map(int, month.split('-'))
        written = write_partitions(
            clean(month, tmp_path), tmp_path / month / 'parts', GREEN, TaxiMonth('green', year, number, 'tlc')
        )
        for name in written:
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / month / 'parts' / name).rename(out / name)
    schemas = {pq.read_schema(f).remove_metadata() for f in out.rglob('*.parquet')}
    assert len(schemas) == 1  # every file of every layout has the same columns and types
    dataset = ds.dataset(out, format='parquet', partitioning='hive')
    assert dataset.count_rows() == sum(MONTHS.values())
    assert dataset.schema.field('rate_code_id').type == pa.int64()
    (n, fees) = duckdb.sql(
        f"SELECT count(*), count(cbd_congestion_fee) FROM read_parquet('{out}/*/*.parquet', hive_partitioning = true)"
    ).fetchall()[0]
    assert n == sum(MONTHS.values()) and 0 < fees < MONTHS['2025-01']


def test_the_layouts_load_into_one_bigquery_table_and_a_new_field_is_added(cloud_env, tmp_path):
    """On the emulator: the table made before 2025 (no cbd_congestion_fee) gains the field when
    2025-01 loads; the older months read NULL there, their rows untouched."""
    from utils.sinks.bigquery_load import load_month, table_ids
    from utils.sinks.environment import bigquery_client, google_target, storage_client
    from utils.sinks.gcs_io import open_bucket, upload_file

    target = google_target()
    bucket = open_bucket(storage_client(), target.bucket)
    client = bigquery_client()

    def load(month: str, schema) -> int:
        uri = upload_file(bucket, clean(month, tmp_path, schema), f'nyc_taxi/green/green_tripdata_{month}.parquet')
        return load_month(
            client,
            project=target.project,
            dataset=target.dataset,
            location=target.location,
            taxi_schema=schema,
            month=date.fromisoformat(f'{month}-01'),
            uri=uri,
        )

    assert load('2021-01', GREEN.without('cbd_congestion_fee')) == MONTHS['2021-01']
    assert load('2023-02', GREEN.without('cbd_congestion_fee')) == MONTHS['2023-02']
    table_id, _ = table_ids(target.project, target.dataset, 'green', date(2025, 1, 1))
    assert 'cbd_congestion_fee' not in {f.name for f in client.get_table(table_id).schema}
    assert load('2025-01', GREEN) == MONTHS['2025-01']
    fields = {f.name: f.field_type for f in client.get_table(table_id).schema}
    assert fields['cbd_congestion_fee'] in ('FLOAT', 'FLOAT64') and fields['rate_code_id'] in ('INTEGER', 'INT64')
    counts = [
        tuple(r.values())
        for r in client.query(
            f'SELECT CAST(source_month AS STRING) AS m, count(*) AS n, count(cbd_congestion_fee) AS fees '
            f'FROM `{table_id}` GROUP BY m ORDER BY m'
        ).result()
    ]
    assert [(m[:7], n) for m, n, _ in counts] == [(m, MONTHS[m]) for m in ('2021-01', '2023-02', '2025-01')]
    assert counts[0][2] == counts[1][2] == 0 < counts[2][2]


def test_the_gcs_dataset_of_the_layouts_loads_into_bigquery_in_one_load_job(cloud_env, tmp_path):
    """The module-3 question (reading every month's files together fails on a type mismatch), on
    the emulator: one load job over gs://<bucket>/nyc_taxi/green_partitioned/* of the four months'
    partitions, with the schema the files carry (no schema given, no cast), takes every row. The
    emulator has no external tables (CREATE EXTERNAL TABLE: "Syntax error: Unexpected EXTERNAL"),
    so real GCP's external table over the same files is tested with the gcp mark only."""
    from google.cloud import bigquery

    from utils.domain.taxi_source import TaxiMonth
    from utils.sinks.bigquery_load import ensure_dataset
    from utils.sinks.environment import bigquery_client, google_target, storage_client
    from utils.sinks.gcs_io import open_bucket, upload_month_partitions

    target = google_target()
    bucket = open_bucket(storage_client(), target.bucket)
    for month in MONTHS:
        year, number = map(int, month.split('-'))
        upload_month_partitions(bucket, clean(month, tmp_path), GREEN, TaxiMonth('green', year, number, 'tlc'))
    client = bigquery_client()
    ensure_dataset(client, target.project, target.dataset)
    table = f'{target.project}.{target.dataset}.green_every_layout'
    every_month = f'gs://{bucket.name}/nyc_taxi/green_partitioned/*'
    client.load_table_from_uri(
        every_month,
        table,
        location=target.location,
        job_config=bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.PARQUET),
    ).result()
    (row,) = client.query(f'SELECT count(*) AS n, count(cbd_congestion_fee) AS fees FROM `{table}`').result()
    assert row.n == sum(MONTHS.values()) and 0 < row.fees < MONTHS['2025-01']
    # The types the entry gives, not the first file's: the emulator loads the TLC's own four files
    # too, but as the first one has them (RatecodeID, passenger_count FLOAT): checked here.
    types = {f.name: f.field_type for f in client.get_table(table).schema}
    assert {
        c: types[c] for c in ('rate_code_id', 'passenger_count', 'pu_location_id', 'payment_type', 'ehail_fee')
    } == {
        'rate_code_id': 'INTEGER',
        'passenger_count': 'INTEGER',
        'pu_location_id': 'INTEGER',
        'payment_type': 'INTEGER',
        'ehail_fee': 'FLOAT',
    }
