"""utils/sinks/course_views.py on a real PostgreSQL: the raw table under the course's names."""

from datetime import date

import pyarrow.csv as pacsv
from conftest import query

from utils.domain.schema_drift import conform
from utils.domain.taxi_schema import schema_for
from utils.domain.taxi_source import TaxiMonth
from utils.sinks.course_views import postgres_view
from utils.sinks.environment import REPO_ROOT
from utils.sinks.gcs_io import monthly_object, partitioned_prefix
from utils.sinks.postgres_load import replace_month

FHV = schema_for('fhv')


def test_a_raw_month_has_its_own_tables_and_objects():
    raw = TaxiMonth.from_vars({'service': 'fhv', 'year': 2019, 'month': 1, 'cleaning': 'raw'})
    assert (raw.table_stem, raw.label) == ('fhv_raw', 'fhv 2019-01 (raw)')
    assert monthly_object(raw) == 'nyc_taxi/fhv_raw/fhv_tripdata_2019-01.parquet'
    assert partitioned_prefix(raw.table_stem) == 'nyc_taxi/fhv_raw_partitioned/'
    assert TaxiMonth.from_vars(raw.to_dict()) == raw  # the manifest carries it to the next block


def test_the_view_has_the_tlc_names_in_lower_case_and_every_row(pg):
    table = pacsv.read_csv(REPO_ROOT / 'samples' / 'fhv' / 'fhv_tripdata_2019-02.csv.gz')
    matched = {n: FHV.source_column(n) for n in table.column_names}
    batches = [conform(b, FHV, matched, 'fhv 2019-02').rename_columns(FHV.clean_columns) for b in table.to_batches()]
    replace_month(
        pg, schema_name='ny_taxi', taxi_schema=FHV, month=date(2019, 2, 1), batches=batches, table='fhv_raw_taxi_data'
    )
    assert postgres_view(pg, 'ny_taxi', FHV) == 'prod.fhv_tripdata'
    columns = [
        r[0]
        for r in query(
            pg,
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'prod' "
            "AND table_name = 'fhv_tripdata' ORDER BY ordinal_position",
        )
    ]
    assert columns == [
        'dispatching_base_num',
        'pickup_datetime',
        'dropoff_datetime',
        'pulocationid',
        'dolocationid',
        'sr_flag',
        'affiliated_base_number',
        'source_month',
    ]
    # the course's SQL, unquoted as it writes it
    assert query(pg, 'SELECT count(*), count(PUlocationID) FROM prod.fhv_tripdata') == [
        (table.num_rows, table.num_rows - table['PULocationID'].null_count)
    ]
