"""<dataset>.<service>_tripdata_external over the parquet api_to_gcs partitioned by pickup date
(gs://<bucket>/nyc_taxi/<service>_partitioned/pickup_date=.../): the course's module-3 external
table on BigQuery; on the emulator, which cannot read one, the files loaded into a table of that
name (utils/steps/partitioned_tables.py). Variable: service (default yellow).
"""

from utils.sinks.environment import bigquery_client
from utils.steps.partitioned_tables import create_external_table as make_external_table

if 'custom' not in globals():
    from mage_ai.data_preparation.decorators import custom
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@custom
def create_external_table(*args, **kwargs) -> dict:
    return make_external_table(kwargs)


@test
def test_the_table_reads_the_partitioned_files(manifest: dict, *args) -> None:
    table = bigquery_client().get_table(manifest['external_table'])
    assert manifest['rows'] > 0 and manifest['pickup_days'] > 0, manifest
    assert 'pickup_date' in [field.name for field in table.schema]  # from the folder names
