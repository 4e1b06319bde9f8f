"""The sensor's wait, against the real HTTP source server (HEAD requests, as against GitHub)."""

import shutil

import pytest
from conftest import YELLOW_SAMPLE
from support.source_server import Fault

from scripts.stack.processes import free_port
from utils.steps.month_sensor import (
    Patience,
    SourceCheckError,
    SourceNotPublishedError,
    release_file_exists,
    wait_for,
)

MISSING = '/green/green_tripdata_2031-05.csv.gz'


def test_head_answers_there_and_not_yet(source):
    assert release_file_exists(f'{source.base_url}/yellow/{YELLOW_SAMPLE.name}') is True
    assert release_file_exists(source.base_url + MISSING) is False
    assert source.requests[-2:] == [f'HEAD /yellow/{YELLOW_SAMPLE.name}', f'HEAD {MISSING}']


def test_any_other_answer_is_an_error_naming_url_and_status(source):
    forbidden = '/green/green_tripdata_2031-06.csv.gz'
    source.faults[forbidden] = Fault(status=403)
    with pytest.raises(SourceCheckError, match=rf'HEAD {source.base_url}{forbidden} answered HTTP 403 Forbidden'):
        release_file_exists(source.base_url + forbidden)


def test_a_source_that_does_not_answer_is_named():
    url = f'http://127.0.0.1:{free_port()}{MISSING}'  # nothing listens there
    with pytest.raises(SourceCheckError, match=rf'HEAD {url} failed: ConnectionError'):
        release_file_exists(url)


def test_the_wait_ends_when_the_file_appears(source, source_root):
    url = source.base_url + MISSING
    sleeps = []
    asked_before = source.requests.count(f'HEAD {MISSING}')

    def sleep(seconds):  # the file is published during the second pause
        sleeps.append(seconds)
        if len(sleeps) == 2:
            shutil.copy(YELLOW_SAMPLE, source_root / MISSING.lstrip('/'))

    try:
        wait_for(url, lambda: release_file_exists(url), Patience(poll_seconds=7, wait_seconds=3600), sleep=sleep)
    finally:
        (source_root / MISSING.lstrip('/')).unlink(missing_ok=True)
    assert sleeps == [7, 7]
    assert source.requests.count(f'HEAD {MISSING}') - asked_before == 3


def test_a_month_that_never_appears_times_out_naming_url_and_wait(source):
    url = source.base_url + MISSING
    asked_before = source.requests.count(f'HEAD {MISSING}')
    with pytest.raises(SourceNotPublishedError) as e:
        wait_for(url, lambda: release_file_exists(url), Patience(poll_seconds=0.2, wait_seconds=1))
    assert str(e.value).startswith(f'{url} did not appear: waited ')
    assert 'one every 0 s), the limit is 1 s (pipeline variable source_wait_hours)' in str(e.value)
    assert source.requests.count(f'HEAD {MISSING}') - asked_before >= 2


@pytest.mark.parametrize(
    'variables, message',
    [
        ({'source_poll_seconds': 0}, 'source_poll_seconds=0 must be a number above 0'),
        ({'source_wait_hours': 'soon'}, "source_wait_hours='soon' must be a number above 0"),
    ],
)
def test_bad_patience_settings_are_named(variables, message):
    with pytest.raises(ValueError, match=message):
        Patience.from_vars(variables)


def test_patience_defaults_and_settings():
    assert Patience.from_vars({}) == Patience(poll_seconds=600, wait_seconds=48 * 3600)
    assert Patience.from_vars({'source_poll_seconds': '5', 'source_wait_hours': 0.5}) == Patience(5, 1800)
