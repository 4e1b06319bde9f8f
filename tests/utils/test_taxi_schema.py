import csv
import gzip
import re

import pyarrow as pa
import pytest
from conftest import GREEN_SAMPLE_CSV, YELLOW_SAMPLE

from utils.domain.taxi_schema import SERVICES, schema_for, snake_case
from utils.sinks.environment import REPO_ROOT


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


def test_columns_are_the_release_file_headers_then_the_ones_the_tlc_added():
    with gzip.open(YELLOW_SAMPLE, 'rt') as f:
        assert schema_for('yellow').columns == [*next(csv.reader(f)), 'airport_fee', 'cbd_congestion_fee']
    with open(GREEN_SAMPLE_CSV) as f:
        assert schema_for('green').columns == [*next(csv.reader(f)), 'cbd_congestion_fee']
    with open(GREEN_SAMPLE_CSV) as f:
        assert schema_for('green').without('cbd_congestion_fee').columns == next(csv.reader(f))


@pytest.mark.parametrize('service', SERVICES)
def test_every_bundled_file_of_a_service_has_its_required_columns_and_no_other(service):
    """The course CSVs and the TLC parquet files in samples/ (real; the FHV ones are the TLC's
    own CSV lines): matched case-insensitively, every file fits its service's entry."""
    import pyarrow.parquet as pq

    from utils.domain.schema_drift import match_columns

    schema = schema_for(service)
    files = sorted((REPO_ROOT / 'samples').glob(f'*/{service}_tripdata_*'))
    assert files, service
    for path in files:
        if path.suffix == '.parquet':
            names = pq.read_schema(path).names
        else:
            with gzip.open(path, 'rt') as f:
                names = next(csv.reader(f))
        matched = match_columns(names, schema, str(path))
        assert set(schema.required) <= set(matched.values()), path


def test_a_service_is_one_entry():
    """What a step reads of a service is in its entry: table names and GCS prefixes derive from
    the service's name, the rest (rules, clustering, releases) is in the entry."""
    from utils.sinks import bigquery_load, gcs_io
    from utils.sinks.postgres_load import table_name

    fhv = schema_for('fhv')
    assert table_name('fhv') == 'fhv_taxi_data'
    assert gcs_io.partitioned_prefix('fhv').startswith('nyc_taxi/fhv')
    assert (
        bigquery_load.table_ids('local-project', 'ny_taxi', 'fhv', __import__('datetime').date(2019, 1, 1))[0]
        == 'local-project.ny_taxi.fhv_tripdata'
    )
    assert bigquery_load.cluster_by(fhv) == ('source_month', 'dispatching_base_num')
    assert fhv.clean_columns == [
        'dispatching_base_num',
        'pickup_datetime',
        'dropoff_datetime',
        'pu_location_id',
        'do_location_id',
        'sr_flag',
        'affiliated_base_number',
    ]
    assert fhv.source_column('PULocationID') == fhv.source_column('pulocationid') == 'PUlocationID'
    assert fhv.source_column('dropoff_datetime') == 'dropOff_datetime'
    assert fhv.rules == ('dispatching_base_num_missing',)


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
    with pytest.raises(ValueError, match=r"unknown taxi service 'blue'.*yellow, green, fhv, fhvhv"):
        schema_for('blue')


def test_the_data_dictionary_explains_every_column():
    """Every column of the trips tables (both services, as loaded and as the homework adds),
    the zones and the marts has a description."""
    from utils.domain.data_dictionary import describe
    from utils.domain.zones import SCHEMA as ZONES

    marts = ''.join(p.read_text() for p in (REPO_ROOT / 'dbt' / 'taxi_marts' / 'models' / 'core').glob('*.sql'))
    # the dbt models' columns: their aliases (`... as revenue_zone`) and fact_trips' `trips.<column>`
    mart_columns = set(re.findall(r'\bas (\w+),?$', marts, re.M)) | set(re.findall(r'^\s+trips\.(\w+),?$', marts, re.M))
    assert len(mart_columns) > 30 and {'revenue_monthly_fare', 'pickup_borough', 'fare_amount'} <= mart_columns
    columns = {c for s in ('yellow', 'green') for c in schema_for(s).clean_columns} | {
        'source_month',
        'lpep_pickup_date',
        *ZONES.names,
        *mart_columns,
    }
    assert [c for c in sorted(columns) if not describe(c)] == []
    assert describe('no_such_column') is None
