"""Keep the trips with passenger_count > 0 (as the course does) and rename columns to snake_case.

The rules, and the count of rows each one dropped, are in utils/cleaning.py and the block log.
"""

import pyarrow.compute as pc
import pyarrow.parquet as pq

from utils.taxi_files import iter_parquet_batches
from utils.taxi_pipeline import clean_month, manifest_of
from utils.taxi_schema import schema_for

if 'transformer' not in globals():
    from mage_ai.data_preparation.decorators import transformer
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def clean_taxi_trips(loaded, *args, **kwargs) -> dict:
    return clean_month(manifest_of(loaded))  # in the editor the loader also hands over its first rows


@test
def test_no_trip_without_passengers(manifest: dict, *args) -> None:
    clean = pq.ParquetFile(manifest['clean_path'])
    assert clean.schema_arrow == schema_for(manifest['service']).arrow_schema(clean=True)
    assert clean.metadata.num_rows == manifest['rows_out']
    assert manifest['rows_in'] == manifest['rows_out'] + sum(manifest['dropped'].values())
    for batch in iter_parquet_batches(manifest['clean_path'], columns=['passenger_count']):
        passengers = batch.column('passenger_count')
        assert passengers.null_count == 0, 'a trip with no passenger_count is left'
        assert pc.min(passengers).as_py() > 0, 'a trip with passenger_count <= 0 is left'
