import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import GREEN_MONTH, YELLOW_SAMPLE
from course_oracle import course_clean

from utils.domain.cleaning import clean_batch, clean_file
from utils.domain.taxi_files import csv_to_parquet
from utils.domain.taxi_schema import schema_for


def _batch(passenger_counts):
    schema = schema_for('yellow')
    n = len(passenger_counts)
    columns = {f.name: pa.nulls(n, f.type) for f in schema.arrow_schema()}
    columns['passenger_count'] = pa.array(passenger_counts, pa.int64())
    columns['trip_distance'] = pa.array([float(i) for i in range(n)])
    return pa.RecordBatch.from_pydict(columns, schema=schema.arrow_schema())


def test_keeps_only_positive_passenger_counts_and_counts_reasons():
    kept, dropped = clean_batch(_batch([1, 0, None, 3, -1, None]), schema_for('yellow'))
    assert kept.column('passenger_count').to_pylist() == [1, 3]
    assert kept.column('trip_distance').to_pylist() == [0.0, 3.0]
    assert dropped == {'passenger_count_missing': 2, 'passenger_count_not_positive': 2}


def test_renames_to_snake_case():
    kept, _ = clean_batch(_batch([1]), schema_for('yellow'))
    assert kept.schema.names[:1] == ['vendor_id']
    assert {'rate_code_id', 'pu_location_id', 'do_location_id'} <= set(kept.schema.names)


def test_empty_batch():
    kept, dropped = clean_batch(_batch([]), schema_for('yellow'))
    assert kept.num_rows == 0 and sum(dropped.values()) == 0


@pytest.mark.parametrize('service, path', [('yellow', YELLOW_SAMPLE), ('green', GREEN_MONTH)])
def test_real_files_match_the_course_filter(tmp_path, service, path):
    schema = schema_for(service)
    csv_to_parquet(path, tmp_path / 'raw.parquet', schema, service)
    counts = clean_file(tmp_path / 'raw.parquet', tmp_path / 'clean.parquet', schema)
    expected = course_clean(path, service)
    clean = pq.read_table(tmp_path / 'clean.parquet')
    assert counts['rows_out'] == clean.num_rows == len(expected)
    assert counts['rows_in'] == counts['rows_out'] + sum(counts['dropped'].values())
    assert clean.column('passenger_count').to_pylist() == expected['passenger_count'].tolist()
    assert clean.column('total_amount').to_pylist() == expected['total_amount'].tolist()


def test_green_month_reasons_match_provenance(tmp_path):
    # PROVENANCE.md: passenger_count empty = 42,510, 0 = 259 in green 2020-10
    schema = schema_for('green')
    csv_to_parquet(GREEN_MONTH, tmp_path / 'raw.parquet', schema, 'green')
    counts = clean_file(tmp_path / 'raw.parquet', tmp_path / 'clean.parquet', schema)
    assert counts['dropped'] == {'passenger_count_missing': 42_510, 'passenger_count_not_positive': 259}
