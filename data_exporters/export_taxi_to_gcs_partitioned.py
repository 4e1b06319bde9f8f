"""Write the cleaned month to GCS as parquet partitioned by pickup date (hive layout):
nyc_taxi/<service>_partitioned/pickup_date=YYYY-MM-DD/<file>-<i>.parquet. A rerun replaces the
month's files and removes the ones it no longer writes.
"""

from utils.domain.month_manifest import MonthManifest
from utils.sinks.environment import google_target, storage_client
from utils.sinks.gcs_io import month_partition_objects, open_bucket, parquet_rows_in_gcs, rows_by_pickup_date
from utils.steps.taxi_pipeline import export_month_to_gcs_partitioned

if 'data_exporter' not in globals():
    from mage_ai.data_preparation.decorators import data_exporter
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_exporter
def export_taxi_to_gcs_partitioned(manifest: dict, *args, **kwargs) -> dict:
    return export_month_to_gcs_partitioned(manifest, kwargs)


@test
def test_one_partition_per_pickup_date(manifest: dict, *args) -> None:
    bucket = open_bucket(storage_client(), google_target().bucket)
    in_bucket = month_partition_objects(bucket, MonthManifest.of(manifest).month)
    assert in_bucket == manifest['partition_objects'], 'stale or missing partition files'
    in_files = rows_by_pickup_date({name: parquet_rows_in_gcs(bucket, name) for name in in_bucket})
    assert in_files == manifest['rows_by_pickup_date']
    assert sum(in_files.values()) == manifest['rows_out'], 'rows lost or doubled on the way to GCS'
