"""The checked zone lookup -> <POSTGRES_SCHEMA>.taxi_zone_lookup (the dbt source of dim_zones),
replaced whole and atomically: a bad file never gets here, and the previous lookup stays."""

from utils.sinks.environment import postgres_connection
from utils.steps.marts import export_zones

if 'data_exporter' not in globals():
    from mage_ai.data_preparation.decorators import data_exporter
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_exporter
def export_zones_to_postgres(manifest: dict, *args, **kwargs) -> dict:
    return export_zones(manifest, 'postgres_marts')


@test
def test_the_table_holds_every_zone(manifest: dict, *args) -> None:
    with postgres_connection() as conn, conn.cursor() as cur:
        cur.execute(f'SELECT count(*), count(DISTINCT location_id) FROM {manifest["table"]}')
        assert cur.fetchone() == (manifest['zones'], manifest['zones'])
