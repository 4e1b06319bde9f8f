"""The source month this refresh is about (variables service, year, month: the month whose rows
api_to_postgres loaded), checked before the SQL blocks put it into their SQL, and its table
found. Bad variables fail here, naming them, before any SQL runs."""

from utils.marts import check_source_month as check

if 'transformer' not in globals():
    from mage_ai.data_preparation.decorators import transformer


@transformer
def check_source_month(zones: dict, *args, **kwargs) -> dict:
    return check(zones, kwargs)
