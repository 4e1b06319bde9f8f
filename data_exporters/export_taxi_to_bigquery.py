"""Load the month from GCS into BigQuery: load job -> staging table -> <dataset>.<service>_tripdata,
partitioned by pickup date and clustered by vendor_id, replacing only that month (one statement).
"""

from utils.domain.month_manifest import MonthManifest
from utils.sinks.bigquery_load import count_month
from utils.sinks.environment import bigquery_client, google_target
from utils.steps.taxi_pipeline import export_month_to_bigquery

if 'data_exporter' not in globals():
    from mage_ai.data_preparation.decorators import data_exporter
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_exporter
def export_taxi_to_bigquery(manifest: dict, *args, **kwargs) -> dict:
    return export_month_to_bigquery(manifest, kwargs)


@test
def test_table_holds_the_month(manifest: dict, *args) -> None:
    client = bigquery_client()
    table = client.get_table(manifest['bigquery_table'])
    assert table.time_partitioning is not None and table.time_partitioning.type_ == 'DAY'
    month = MonthManifest.of(manifest).month.first_day
    assert count_month(client, manifest['bigquery_table'], month, google_target().location) == manifest['rows']
