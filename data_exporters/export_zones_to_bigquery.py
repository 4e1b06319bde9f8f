"""The checked zone lookup -> <dataset>.taxi_zone_lookup in BigQuery (the dbt source of
dim_zones), replaced by a load job that truncates the table: the checked lookup in, or the
previous one left as it was."""

from utils.sinks.environment import bigquery_client
from utils.steps.marts import export_zones

if 'data_exporter' not in globals():
    from mage_ai.data_preparation.decorators import data_exporter
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_exporter
def export_zones_to_bigquery(manifest: dict, *args, **kwargs) -> dict:
    return export_zones(manifest, 'bigquery_marts')


@test
def test_the_table_holds_every_zone(manifest: dict, *args) -> None:
    counts = next(
        iter(
            bigquery_client()
            .query(f'SELECT count(*) AS n, count(DISTINCT location_id) AS ids FROM `{manifest["table"]}`')
            .result()
        )
    )
    assert (counts.n, counts.ids) == (manifest['zones'], manifest['zones'])
