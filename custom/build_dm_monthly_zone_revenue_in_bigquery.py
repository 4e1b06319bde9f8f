"""dm_monthly_zone_revenue in BigQuery: sql/bigquery/dm_monthly_zone_revenue.sql for the run's
source month (its contribution replaced in int_monthly_zone_revenue; the mart is the view)."""

from utils.bigquery_marts import refresh

if 'custom' not in globals():
    from mage_ai.data_preparation.decorators import custom


@custom
def build_dm_monthly_zone_revenue_in_bigquery(manifest: dict, *args, **kwargs) -> dict:
    return refresh(manifest, 'dm_monthly_zone_revenue.sql', 'int_monthly_zone_revenue')
