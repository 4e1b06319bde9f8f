"""The source month this refresh is about (variables service, year, month: the month whose rows
gcs_to_bigquery loaded), checked, and its <dataset>.<service>_tripdata found."""

from utils.bigquery_marts import check_source_month

if 'transformer' not in globals():
    from mage_ai.data_preparation.decorators import transformer


@transformer
def check_bigquery_source_month(zones: dict, *args, **kwargs) -> dict:
    return check_source_month(zones, kwargs)
