"""Find the month's parquet object in GCS (written by api_to_gcs) for the BigQuery load.

Pipeline variables: service, year, month. Returns the object's gs:// URI and row count; the
rows themselves go from GCS to BigQuery in a load job, not through Mage.
"""

from utils.steps.taxi_pipeline import locate_month_in_gcs

if 'data_loader' not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def load_taxi_parquet_from_gcs(*args, **kwargs) -> dict:
    return locate_month_in_gcs(kwargs)


@test
def test_month_object_has_rows(manifest: dict, *args) -> None:
    assert manifest['gcs_uri'].startswith('gs://') and manifest['gcs_uri'].endswith('.parquet')
    assert manifest['rows'] > 0, f'{manifest["gcs_uri"]} has no rows'
