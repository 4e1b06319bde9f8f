"""The three blocks of api_to_postgres called as plain functions (the decorators are identity
functions outside Mage), each followed by its own inline @test, as `mage run --test` does."""

import importlib

import pyarrow.parquet as pq
import pytest
from conftest import YELLOW_SAMPLE, query
from course_oracle import course_clean

from utils.domain.taxi_schema import schema_for

load_taxi_csv = importlib.import_module('data_loaders.load_taxi_csv')
clean_taxi_trips = importlib.import_module('transformers.clean_taxi_trips')
export_taxi_to_postgres = importlib.import_module('data_exporters.export_taxi_to_postgres')

VARIABLES = {'service': 'yellow', 'year': 2021, 'month': 1, 'pipeline_uuid': 'api_to_postgres'}


def run_chain(variables):
    loaded = load_taxi_csv.load_taxi_csv(**variables)
    load_taxi_csv.test_raw_file_matches_schema(loaded)
    cleaned = clean_taxi_trips.clean_taxi_trips(loaded, **variables)
    clean_taxi_trips.test_no_trip_the_course_drops_is_left(cleaned)
    exported = export_taxi_to_postgres.export_taxi_to_postgres(cleaned, **variables)
    export_taxi_to_postgres.test_table_holds_the_clean_rows(exported)
    return loaded, cleaned, exported


def test_blocks_chain_loads_the_sample(pg, taxi_env, tmp_path):
    loaded, cleaned, exported = run_chain(VARIABLES)
    expected = len(course_clean(YELLOW_SAMPLE, 'yellow'))
    assert loaded['rows'] == 1197
    assert loaded['url'] == f'{taxi_env["NYC_TLC_BASE_URL"]}/yellow/yellow_tripdata_2021-01.csv.gz'
    assert loaded['raw_path'].startswith(taxi_env['TAXI_WORK_DIR'])
    assert cleaned['rows_out'] == exported['rows_loaded'] == expected
    assert exported['table'] == 'ny_taxi.yellow_taxi_data'
    assert query(pg, 'SELECT count(*) FROM ny_taxi.yellow_taxi_data') == [(expected,)]


def test_loader_inline_test_catches_a_wrong_file(pg, taxi_env):
    loaded = load_taxi_csv.load_taxi_csv(**VARIABLES)
    with pytest.raises(AssertionError):
        load_taxi_csv.test_raw_file_matches_schema({**loaded, 'service': 'green'})


def test_cleaner_inline_test_catches_a_left_over_zero(pg, taxi_env, tmp_path):
    loaded = load_taxi_csv.load_taxi_csv(**VARIABLES)
    # the raw rows under the clean column names: right schema, but trips with 0 passengers left
    raw = pq.read_table(loaded['raw_path'])
    unclean = raw.rename_columns(schema_for('yellow').clean_columns)
    pq.write_table(unclean, tmp_path / 'unclean.parquet')
    manifest = {
        **loaded,
        'clean_path': str(tmp_path / 'unclean.parquet'),
        'rows_in': raw.num_rows,
        'rows_out': raw.num_rows,
        'dropped': {},
        'cleaning': 'service',
    }
    with pytest.raises(AssertionError, match='passenger_count <= 0'):
        clean_taxi_trips.test_no_trip_the_course_drops_is_left(manifest)


def test_exporter_inline_test_compares_with_the_table(pg, taxi_env):
    _, cleaned, exported = run_chain(VARIABLES)
    with pytest.raises(AssertionError):
        export_taxi_to_postgres.test_table_holds_the_clean_rows({**exported, 'rows_out': cleaned['rows_out'] + 1})
