"""<dataset>.<service>_tripdata_partitioned_clustered from the external table: partitioned by the
pickup's day, clustered by the service's column (vendor_id for yellow and green), as the course's
module 3 makes it (utils/steps/partitioned_tables.py).
"""

from utils.steps.partitioned_tables import create_partitioned_clustered_table as make_partitioned_table

if 'custom' not in globals():
    from mage_ai.data_preparation.decorators import custom
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@custom
def create_partitioned_clustered_table(manifest: dict, *args, **kwargs) -> dict:
    return make_partitioned_table(manifest)


@test
def test_every_row_is_in_a_day_partition_and_clustered(manifest: dict, *args) -> None:
    assert manifest['partitioned_rows'] == manifest['rows'], manifest
    assert manifest['partitioned_by'] and manifest['partitioned_by'].endswith('pickup_datetime'), manifest
    assert manifest['clustered_by'], manifest
