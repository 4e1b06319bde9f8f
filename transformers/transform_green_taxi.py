"""The homework's transformer: keep the trips with passenger_count > 0 AND trip_distance > 0,
add lpep_pickup_date (the pickup's date), and name the columns in snake_case by the project's one
rule (VendorID -> vendor_id, RatecodeID -> rate_code_id, PULocationID -> pu_location_id,
DOLocationID -> do_location_id). The rules are data (utils/domain/cleaning.py HOMEWORK_RULES); the log
says how many rows each one dropped.
"""

import pyarrow.compute as pc
import pyarrow.parquet as pq

from utils.domain.cleaning import clean_schema
from utils.domain.taxi_files import iter_parquet_batches
from utils.steps.green_taxi_etl import SCHEMA, transform

if 'transformer' not in globals():
    from mage_ai.data_preparation.decorators import transformer
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def transform_green_taxi(manifest: dict, *args, **kwargs) -> dict:
    return transform(manifest)


def column_values(paths, column: str) -> set:
    """The distinct values of a column over parquet files, read batch by batch."""
    return {
        v
        for p in paths
        for batch in iter_parquet_batches(p, columns=[column])
        for v in pc.unique(batch.column(column)).to_pylist()
    }


@test
def test_the_homework_assertions(manifest: dict, *args) -> None:
    clean = pq.ParquetFile(manifest['clean_path'])
    assert clean.schema_arrow == clean_schema(SCHEMA, with_pickup_date=True), clean.schema_arrow
    assert clean.metadata.num_rows == manifest['rows_out'] > 0
    existing = column_values(manifest['raw_paths'], 'VendorID') - {None}  # the source's vendors
    assert column_values([manifest['clean_path']], 'vendor_id') <= existing, 'vendor_id outside the existing values'
    for batch in iter_parquet_batches(manifest['clean_path'], columns=['passenger_count', 'trip_distance']):
        for column in ('passenger_count', 'trip_distance'):
            values = batch.column(column)
            assert values.null_count == 0 and pc.min(values).as_py() > 0, f'a trip with {column} <= 0 is left'
