"""Download one month of NYC taxi trips and read it with its service's schema.

Pipeline variables: service (yellow, green, fhv, fhvhv), year, month; source: course (the
DataTalksClub gzip CSV at NYC_TLC_BASE_URL) or tlc (the TLC's parquet at TLC_TRIP_DATA_URL),
default TAXI_SOURCE (see dev.env). Whatever the year's layout, the raw file has the service's
columns and types (utils/domain/schema_drift.py).
Returns a manifest (paths and counts); the rows stream to a parquet file on disk. In the editor
the block also shows the month's first 10 rows, as a table of their own (its output 1).
"""

import pyarrow.parquet as pq

from utils.domain.taxi_schema import schema_for
from utils.steps.taxi_pipeline import extract_month, loader_output, manifest_of

if 'data_loader' not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def load_taxi_csv(*args, **kwargs):
    return loader_output(extract_month(kwargs), kwargs)


@test
def test_raw_file_matches_schema(output, *args) -> None:
    manifest = manifest_of(output)
    if manifest.get('unchanged'):  # skipped: the source has not changed since the last load
        assert manifest['rows_out'] >= 0 and manifest['source_version'], manifest
        return
    raw = pq.ParquetFile(manifest['raw_path'])
    assert raw.schema_arrow == schema_for(manifest['service']).arrow_schema(), raw.schema_arrow
    assert raw.metadata.num_rows == manifest['rows'] > 0, 'the file has no rows'
