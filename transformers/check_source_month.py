"""The source month this refresh is about (variables service, year, month: the month whose rows
the load pipelines wrote), checked, and its trips table found in the pipeline's warehouse
(postgres_marts: PostgreSQL, bigquery_marts: BigQuery). Bad variables or a month never loaded
fail here, naming them, before dbt starts."""

from utils.steps.marts import check_source_month as check

if 'transformer' not in globals():
    from mage_ai.data_preparation.decorators import transformer


@transformer
def check_source_month(zones: dict, *args, **kwargs) -> dict:
    return check(zones, kwargs)
