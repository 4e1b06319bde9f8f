"""utils/steps/month_check.py against a real PostgreSQL: the neighbours are the service's latest
succeeded cleaned exports; a month skipped or raw is not compared; a store that cannot be reached
leaves the load standing; the warning alert reaches a real webhook receiver and never logs its URL."""

from __future__ import annotations

import logging
from datetime import date, datetime, timezone

from conftest import query
from support.webhook_receiver import WebhookReceiver

from scripts.stack.processes import free_port
from utils.steps import audit
from utils.steps.month_check import flag_unusual_month, loaded_months


def export_row(month: date, rows_read: int, kept: int, **more) -> dict:
    now = datetime.now(timezone.utc)
    return {
        'pipeline_uuid': 'api_to_postgres',
        'block': 'export_taxi_to_postgres',
        'service': 'fhv',
        'month': month,
        'target': 'ny_taxi.fhv_taxi_data',
        'rows_read': rows_read,
        'rows_kept': kept,
        'rows_without_zones': 0,
        'started_at': now,
        'finished_at': now,
        'status': 'succeeded',
        **more,
    }


def manifest(month: int, rows: int, **more) -> dict:
    return {
        'service': 'fhv',
        'year': 2019,
        'month': month,
        'rows': rows,
        'rows_out': rows,
        'rows_without_zones': 0,
        **more,
    }


def test_the_neighbours_are_the_latest_cleaned_succeeded_exports(pg, taxi_env):
    """SYNTHETIC audit rows: a failed export, a raw load and the homework's table are not a month's
    figures; a month loaded twice counts as its latest load."""
    for row in (
        export_row(date(2019, 2, 1), 100, 100),
        export_row(date(2019, 2, 1), 90, 90),  # loaded again: this one counts
        export_row(date(2019, 3, 1), 5, 5, status='failed'),
        export_row(date(2019, 4, 1), 7, 7, target='ny_taxi.fhv_raw_taxi_data'),
        export_row(date(2019, 5, 1), 9, 9, block='export_green_taxi_to_postgres'),
        export_row(date(2019, 6, 1), 80, 70, service='fhvhv'),
    ):
        audit.write_row(row)
    assert [(m.month, m.rows_read) for m in loaded_months('fhv')] == [(date(2019, 2, 1), 90)]


def test_a_month_skipped_or_raw_is_not_compared(pg, taxi_env):
    assert flag_unusual_month(manifest(8, 10, unchanged=True), {})['why'] == 'skipped as unchanged'
    assert flag_unusual_month(manifest(8, 10, cleaning='raw'), {})['why'] == 'a raw load'


def test_a_store_that_cannot_be_reached_leaves_the_load_standing(taxi_env, monkeypatch, caplog):
    monkeypatch.setenv('POSTGRES_PORT', str(free_port()))  # a real refused connection
    checked = flag_unusual_month(manifest(8, 10), {})
    assert (checked['compared'], checked['why']) == (False, 'the audit trail cannot be read')
    assert 'fhv 2019-08: not compared with its neighbours: ConfigError: cannot connect to PostgreSQL' in caplog.text


def test_the_warning_alert_goes_to_the_webhook_and_a_failed_post_hides_its_url(pg, taxi_env, monkeypatch, caplog):
    for m in (5, 6, 7):
        audit.write_row(export_row(date(2019, m, 1), 100, 100))
    run = {'pipeline_uuid': 'api_to_postgres', 'pipeline_run_id': 41}
    with WebhookReceiver() as receiver:
        monkeypatch.setenv('ALERT_WEBHOOK_URL', receiver.url)
        checked = flag_unusual_month(manifest(8, 10), run)
        assert [receiver.text(p).split('\n')[0] for p in receiver.posts] == ['Mage: api_to_postgres warning']
    assert checked['findings'] == [
        '10 rows read where its 3 neighbours read 100 (under 1/3 of the fewest: unusual_rows_ratio 3)'
    ]
    assert query(pg, 'SELECT month, run_id FROM ny_taxi.unusual_months') == [(date(2019, 8, 1), 41)]

    secret = f'http://127.0.0.1:{free_port()}/hooks/T0-secret-token'  # nobody listens: the post fails
    monkeypatch.setenv('ALERT_WEBHOOK_URL', secret)
    with caplog.at_level(logging.WARNING):
        flag_unusual_month(manifest(8, 10), run)
    assert 'the warning alert was not sent: ConnectionError' in caplog.text
    assert 'secret-token' not in caplog.text


def test_a_run_outside_the_server_sends_no_alert(pg, taxi_env, monkeypatch):
    for m in (5, 6, 7):
        audit.write_row(export_row(date(2019, m, 1), 100, 100))
    with WebhookReceiver() as receiver:
        monkeypatch.setenv('ALERT_WEBHOOK_URL', receiver.url)
        checked = flag_unusual_month(manifest(8, 10), {'pipeline_uuid': 'api_to_postgres'})
        assert checked['findings'] and receiver.posts == []  # `mage run`: flagged and logged, no alert


def test_with_fewer_than_three_other_months_it_says_so(pg, taxi_env):
    for m in (5, 6):
        audit.write_row(export_row(date(2019, m, 1), 100, 100))
    checked = flag_unusual_month(manifest(8, 10), {})
    assert (checked['compared'], checked['why']) == (False, '2 other months of the service loaded, 3 needed')
    assert checked['neighbours'] == ['2019-05-01', '2019-06-01'] and checked['findings'] == []
