"""The homework's GCS export: parquet partitioned by lpep_pickup_date (hive folders
green_taxi/lpep_pickup_date=YYYY-MM-DD/), replacing what an earlier run of this pipeline wrote.

Bucket and client come from the active io_config.yaml profile (emulator or real GCP).
"""

from utils.sinks.environment import google_target, storage_client
from utils.sinks.gcs_io import open_bucket, parquet_rows_in_gcs
from utils.steps.green_taxi_etl import GCS_PREFIX, export_to_gcs

if 'data_exporter' not in globals():
    from mage_ai.data_preparation.decorators import data_exporter
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_exporter
def export_green_taxi_to_gcs(manifest: dict, *args, **kwargs) -> dict:
    return export_to_gcs(manifest)


@test
def test_the_objects_hold_the_run_rows(manifest: dict, *args) -> None:
    bucket = open_bucket(storage_client(), google_target().bucket)
    names = [b.name for b in bucket.list_blobs(prefix=GCS_PREFIX)]
    assert sorted(names) == manifest['partition_objects']  # nothing else under the prefix
    assert sum(parquet_rows_in_gcs(bucket, n) for n in names) == manifest['rows_out']
