"""dim_zones in BigQuery (<dataset>.dim_zones), replaced by a load job that truncates the table:
the checked lookup in, or the previous dim_zones left as it was."""

from utils.bigquery_marts import export_zones
from utils.environment import bigquery_client

if 'data_exporter' not in globals():
    from mage_ai.data_preparation.decorators import data_exporter
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_exporter
def export_zones_to_bigquery(manifest: dict, *args, **kwargs) -> dict:
    return export_zones(manifest)


@test
def test_the_table_holds_every_zone(manifest: dict, *args) -> None:
    table = manifest['bigquery_table']
    counts = next(iter(bigquery_client().query(
        f'SELECT count(*) AS n, count(DISTINCT location_id) AS ids FROM `{table}`').result()))
    assert (counts.n, counts.ids) == (manifest['zones'], manifest['zones'])
