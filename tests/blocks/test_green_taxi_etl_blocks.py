"""The homework's transformer and its inline @test called as plain functions: the test passes on
the real October and fails on a file that still holds a trip the homework drops."""

import importlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import GREEN_MONTH
from course_oracle import homework_transform

from utils.domain.cleaning import renamed_columns
from utils.domain.taxi_files import csv_to_parquet
from utils.steps.green_taxi_etl import SCHEMA, homework_months

transform_green_taxi = importlib.import_module('transformers.transform_green_taxi')


@pytest.fixture(scope='module')
def october(tmp_path_factory):
    folder = tmp_path_factory.mktemp('october')
    csv_to_parquet(GREEN_MONTH, folder / 'raw.parquet', SCHEMA, 'green 2020-10')
    manifest = {
        'service': 'green',
        'year': 2020,
        'months': [10],
        'work_dir': str(folder),
        'raw_paths': [str(folder / 'raw.parquet')],
    }
    return transform_green_taxi.transform_green_taxi(manifest)


def test_the_transformer_keeps_what_the_homework_keeps(october):
    transform_green_taxi.test_the_homework_assertions(october)
    expected = homework_transform([GREEN_MONTH])
    clean = pq.read_table(october['clean_path'])
    assert clean.column_names == list(expected.columns)
    assert october['rows_out'] == len(expected)
    assert october['rows_in'] == 95_120 == october['rows_out'] + sum(october['dropped'].values())
    assert set(october['dropped']) == {
        'passenger_count_missing',
        'passenger_count_not_positive',
        'trip_distance_missing',
        'trip_distance_not_positive',
    }
    assert len(renamed_columns(SCHEMA)) == 4


@pytest.mark.parametrize('column, value', [('trip_distance', 0.0), ('passenger_count', 0), ('vendor_id', 7)])
def test_the_inline_test_fails_on_a_row_the_homework_drops(october, tmp_path, column, value):
    clean = pq.read_table(october['clean_path'])
    index = clean.column_names.index(column)
    values = clean.column(column).to_pylist()
    values[0] = value
    bad = clean.set_column(index, clean.schema.field(index), pa.array(values, clean.schema.field(index).type))
    pq.write_table(bad, tmp_path / 'clean.parquet')
    with pytest.raises(AssertionError):
        transform_green_taxi.test_the_homework_assertions({**october, 'clean_path': str(tmp_path / 'clean.parquet')})


@pytest.mark.parametrize(
    'given, expected',
    [
        ([10, 11, 12], (2020, [10, 11, 12])),
        ([12, 10], (2020, [10, 12])),
        ('[11]', (2020, [11])),
        ('10, 11', (2020, [10, 11])),
        (10, (2020, [10])),
    ],
)
def test_months_as_people_pass_them(given, expected):
    assert homework_months({'year': 2020, 'months': given}) == expected


@pytest.mark.parametrize('given', [[], None, [0], [13], ['10'], [True], 'Q4', [10, 10]])
def test_bad_months_are_named(given):
    with pytest.raises(ValueError, match=r'pipeline variable months='):
        homework_months({'year': 2020, 'months': given})
