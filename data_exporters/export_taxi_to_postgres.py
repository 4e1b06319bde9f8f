"""Replace the month in Postgres table <POSTGRES_SCHEMA>.<service>_taxi_data, atomically,
via binary COPY.

Connection settings come from the active io_config.yaml profile (IO_CONFIG_PROFILE).
"""

from utils.domain.month_manifest import MonthManifest
from utils.sinks.environment import postgres_connection, postgres_schema
from utils.sinks.postgres_load import count_month
from utils.steps.taxi_pipeline import export_month_to_postgres

if 'data_exporter' not in globals():
    from mage_ai.data_preparation.decorators import data_exporter
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_exporter
def export_taxi_to_postgres(manifest: dict, *args, **kwargs) -> dict:
    return export_month_to_postgres(manifest, kwargs)


@test
def test_table_holds_the_clean_rows(manifest: dict, *args) -> None:
    month = MonthManifest.of(manifest).month
    with postgres_connection() as conn:
        in_table = count_month(conn, postgres_schema(), month.table_stem, month.first_day)
    assert in_table == manifest['rows_loaded'] == manifest['rows_out'], (in_table, manifest)
