"""The homework's loader: green taxi trips of every month in `months` of `year` (default the
last quarter of 2020), each streamed from the release's gzip CSV into its own parquet file.

Pipeline variables: year (2020), months ([10, 11, 12]). A month the source lacks fails the run,
naming it: no month is skipped, no row is invented.
"""

import pyarrow.parquet as pq

from utils.steps.green_taxi_etl import SCHEMA, extract_months

if 'data_loader' not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def load_green_taxi_months(*args, **kwargs) -> dict:
    return extract_months(kwargs)


@test
def test_every_month_is_there_with_the_schema(manifest: dict, *args) -> None:
    assert len(manifest['raw_paths']) == len(manifest['months']) > 0
    for path in manifest['raw_paths']:
        raw = pq.ParquetFile(path)
        assert raw.schema_arrow == SCHEMA.arrow_schema(), (path, raw.schema_arrow)
        assert raw.metadata.num_rows > 0, f'{path} has no rows'
    assert sum(pq.ParquetFile(p).metadata.num_rows for p in manifest['raw_paths']) == manifest['rows']
