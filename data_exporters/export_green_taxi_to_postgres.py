"""The homework's PostgreSQL export: mage.green_taxi, replaced whole by each run (its months
exactly), atomically: readers see the previous table until the new one is in place.

Connection settings come from the active io_config.yaml profile (IO_CONFIG_PROFILE).
"""

from utils.sinks.environment import postgres_connection
from utils.steps.green_taxi_etl import POSTGRES_SCHEMA, TABLE, export_to_postgres

if 'data_exporter' not in globals():
    from mage_ai.data_preparation.decorators import data_exporter
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_exporter
def export_green_taxi_to_postgres(manifest: dict, *args, **kwargs) -> dict:
    return export_to_postgres(manifest)


@test
def test_the_table_holds_the_run_rows(manifest: dict, *args) -> None:
    with postgres_connection() as conn, conn.cursor() as cur:
        cur.execute(f'SELECT count(*) FROM {POSTGRES_SCHEMA}.{TABLE}')
        assert cur.fetchone()[0] == manifest['rows_loaded'] == manifest['rows_out']
