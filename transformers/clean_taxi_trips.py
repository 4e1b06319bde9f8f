"""Drop the trips the service's rules exclude and rename columns to snake_case.

yellow, green: keep passenger_count > 0 (as the course does); fhv, fhvhv: keep the trips with a
dispatching base (module 4). The pipeline variable cleaning=raw keeps every row. The rules, and
the count of rows each one dropped, are in utils/domain/cleaning.py and the block log.
"""

import pyarrow.compute as pc
import pyarrow.parquet as pq

from utils.domain.taxi_files import iter_parquet_batches
from utils.domain.taxi_schema import schema_for
from utils.steps.taxi_pipeline import clean_month, manifest_of

if 'transformer' not in globals():
    from mage_ai.data_preparation.decorators import transformer
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@transformer
def clean_taxi_trips(loaded, *args, **kwargs) -> dict:
    # in the editor the loader also hands over its first rows
    return clean_month(manifest_of(loaded))


@test
def test_no_trip_the_course_drops_is_left(manifest: dict, *args) -> None:
    """The course's rule, written here again on purpose: a check of the rules, not a copy of them."""
    if manifest.get('unchanged'):  # nothing was read: the exporters check their targets instead
        return
    clean = pq.ParquetFile(manifest['clean_path'])
    assert clean.schema_arrow == schema_for(manifest['service']).arrow_schema(clean=True)
    assert clean.metadata.num_rows == manifest['rows_out']
    assert manifest['rows_in'] == manifest['rows_out'] + sum(manifest['dropped'].values())
    if manifest['cleaning'] == 'raw':
        assert manifest['rows_out'] == manifest['rows_in'], 'a raw load dropped rows'
        return
    column = 'passenger_count' if manifest['service'] in ('yellow', 'green') else 'dispatching_base_num'
    for batch in iter_parquet_batches(manifest['clean_path'], columns=[column]):
        assert batch.column(column).null_count == 0, f'a trip with no {column} is left'
        if column == 'passenger_count' and batch.num_rows:
            assert pc.min(batch.column(column)).as_py() > 0, 'a trip with passenger_count <= 0 is left'
