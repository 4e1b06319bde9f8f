"""utils/sinks/month_lock.py on a real PostgreSQL: a second load of the same target month waits for
the first; another month, or another target, does not."""

import logging
import threading
from datetime import date

from utils.sinks.month_lock import month_locked

TARGET = 'postgres:ny_taxi.yellow_taxi_data'


def entered_within(seconds: float, target: str, month: date, log: list) -> threading.Thread:
    def take():
        with month_locked(target, month):
            log.append((target, month))

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    thread.join(seconds)
    return thread


def test_the_same_month_waits_other_months_and_targets_do_not(taxi_env, caplog):
    entered = []
    with caplog.at_level(logging.INFO, logger='utils.sinks.month_lock'), month_locked(TARGET, date(2021, 1, 1)):
        assert entered_within(5, TARGET, date(2021, 2, 1), entered).is_alive() is False
        assert entered_within(5, 'gs://bucket/nyc_taxi/yellow', date(2021, 1, 1), entered).is_alive() is False
        waiting = entered_within(1.5, TARGET, date(2021, 1, 1), entered)
        assert waiting.is_alive(), 'a second load of the same month went in while the first held it'
        assert 'another run is loading postgres:ny_taxi.yellow_taxi_data for 2021-01: waiting' in caplog.text
    waiting.join(10)
    assert not waiting.is_alive()
    assert entered == [
        (TARGET, date(2021, 2, 1)),
        ('gs://bucket/nyc_taxi/yellow', date(2021, 1, 1)),
        (TARGET, date(2021, 1, 1)),
    ]
    assert 'waited' in caplog.text
