"""Upload the cleaned month to GCS as one parquet object: nyc_taxi/<service>/<file>.parquet.

Bucket and client come from the active io_config.yaml profile (emulator or real GCP).
"""

from utils.sinks.environment import google_target, storage_client
from utils.sinks.gcs_io import open_bucket, parquet_rows_in_gcs
from utils.steps.taxi_pipeline import export_month_to_gcs

if 'data_exporter' not in globals():
    from mage_ai.data_preparation.decorators import data_exporter
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_exporter
def export_taxi_to_gcs(manifest: dict, *args, **kwargs) -> dict:
    return export_month_to_gcs(manifest, kwargs)


@test
def test_object_holds_the_clean_rows(manifest: dict, *args) -> None:
    bucket = open_bucket(storage_client(), google_target().bucket)
    name = manifest['gcs_uri'].removeprefix(f'gs://{bucket.name}/')
    assert parquet_rows_in_gcs(bucket, name) == manifest['rows_out']
