import csv
import gzip
import re

import pyarrow as pa
import pytest
from conftest import GREEN_SAMPLE_CSV, YELLOW_SAMPLE

from utils.environment import REPO_ROOT
from utils.taxi_schema import SERVICES, schema_for, snake_case


@pytest.mark.parametrize(
    'source, expected',
    [
        ('VendorID', 'vendor_id'),
        ('RatecodeID', 'rate_code_id'),
        ('PULocationID', 'pu_location_id'),
        ('DOLocationID', 'do_location_id'),
        ('tpep_pickup_datetime', 'tpep_pickup_datetime'),
        ('store_and_fwd_flag', 'store_and_fwd_flag'),
        ('SomeNewColumn', 'some_new_column'),
        ('trip Type', 'trip_type'),
    ],
)
def test_snake_case(source, expected):
    assert snake_case(source) == expected


def test_columns_are_the_release_file_headers():
    with gzip.open(YELLOW_SAMPLE, 'rt') as f:
        assert schema_for('yellow').columns == next(csv.reader(f))
    with open(GREEN_SAMPLE_CSV) as f:
        assert schema_for('green').columns == next(csv.reader(f))


def test_course_taxi_dtypes():
    dtypes = schema_for('yellow').pandas_dtypes
    assert dtypes['VendorID'] == dtypes['passenger_count'] == dtypes['payment_type'] == 'Int64'
    assert dtypes['fare_amount'] == dtypes['congestion_surcharge'] == 'float64'
    assert dtypes['store_and_fwd_flag'] == 'str'
    assert schema_for('yellow').parse_dates == ['tpep_pickup_datetime', 'tpep_dropoff_datetime']
    assert schema_for('green').pandas_dtypes['trip_type'] == 'Int64'
    assert schema_for('green').pandas_dtypes['ehail_fee'] == 'float64'


@pytest.mark.parametrize('service', SERVICES)
def test_every_representation_covers_every_column(service):
    s = schema_for(service)
    assert len(s.arrow_schema()) == len(s.columns) == len(s.postgres_columns())
    assert s.arrow_schema(clean=True).names == s.clean_columns == [n for n, _ in s.postgres_columns()]
    assert s.arrow_schema().field(s.pickup_column).type == pa.timestamp('us')
    assert set(s.pandas_dtypes) | set(s.parse_dates) == set(s.columns)


def test_unknown_service_is_named():
    with pytest.raises(ValueError, match="unknown taxi service 'fhv'.*yellow, green"):
        schema_for('fhv')


def test_the_data_dictionary_explains_every_column():
    """Every column of the trips tables (both services, as loaded and as the homework adds),
    the zones and the marts has a description."""
    from utils.taxi_schema import describe
    from utils.zones import SCHEMA as ZONES

    marts = ''.join(p.read_text() for p in (REPO_ROOT / 'dbt' / 'taxi_marts' / 'models' / 'core').glob('*.sql'))
    # the dbt models' columns: their aliases (`... as revenue_zone`) and fact_trips' `trips.<column>`
    mart_columns = set(re.findall(r'\bas (\w+),?$', marts, re.M)) | set(re.findall(r'^\s+trips\.(\w+),?$', marts, re.M))
    assert len(mart_columns) > 30 and {'revenue_monthly_fare', 'pickup_borough', 'fare_amount'} <= mart_columns
    columns = {c for s in ('yellow', 'green') for c in schema_for(s).clean_columns} | {
        'source_month', 'lpep_pickup_date', *ZONES.names, *mart_columns}
    assert [c for c in sorted(columns) if not describe(c)] == []
    assert describe('no_such_column') is None
