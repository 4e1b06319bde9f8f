"""fact_trips in BigQuery: sql/bigquery/fact_trips.sql for the run's source month (the month's
trips with their zones, replacing that month's, in one transaction)."""

from utils.bigquery_marts import refresh

if 'custom' not in globals():
    from mage_ai.data_preparation.decorators import custom


@custom
def build_fact_trips_in_bigquery(manifest: dict, *args, **kwargs) -> dict:
    return refresh(manifest, 'fact_trips.sql', 'fact_trips')
