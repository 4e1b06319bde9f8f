"""Dashboard chart: the zones with the highest revenue in the mart pipeline's month (its
variables service, year, month), with their trips (dm_monthly_zone_revenue)."""

from utils.steps.load_charts import pipeline_of, zone_revenue

if 'data_source' not in globals():
    from mage_ai.data_preparation.decorators import data_source


@data_source
def revenue_and_trips_per_zone(*args, **kwargs):
    return zone_revenue(pipeline_of(kwargs.get('configuration')), kwargs)
