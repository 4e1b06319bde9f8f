"""Wait until the month's file is in the release (HTTP HEAD on its URL), for a scheduled run.

A recurring schedule's run asks every `source_poll_seconds` and fails after `source_wait_hours`
(pipeline variables), naming the URL and how long it waited; a backfill, Run@once or the API
trigger goes on at once (utils/steps/month_sensor.py says why).
"""

from utils.steps.month_sensor import wait_for_release_file as wait_for_month

if 'sensor' not in globals():
    from mage_ai.data_preparation.decorators import sensor


@sensor
def wait_for_release_file(*args, **kwargs) -> bool:
    return wait_for_month(kwargs)
