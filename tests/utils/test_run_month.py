"""utils/steps/run_month.py: the month a run loads. Which runs are date-driven is asked of Mage's
database; that part is tested through the server (tests/pipelines/test_orchestration.py)."""

from datetime import date, datetime, timedelta, timezone

import pytest

from utils.domain.taxi_source import TaxiMonth
from utils.steps.run_month import month_of_run, parse_execution_date, run_is_date_driven

DEFAULTS = {'service': 'yellow', 'year': 2021, 'month': 1}  # merged into every run by Mage


@pytest.mark.parametrize(
    'value, expected',
    [
        (datetime(2020, 10, 1, 9, 0), date(2020, 10, 1)),  # a scheduled run: datetime
        (datetime(2020, 10, 1, 0, 0, tzinfo=timezone.utc), date(2020, 10, 1)),
        (datetime(2020, 10, 1, 1, 0, tzinfo=timezone(timedelta(hours=2))), date(2020, 9, 30)),  # read in UTC
        (date(2020, 11, 1), date(2020, 11, 1)),
        ('2020-12-01', date(2020, 12, 1)),  # --runtime-vars: a string
        ('2020-12-01T00:00:00', date(2020, 12, 1)),
        ('2020-12-01T00:00:00Z', date(2020, 12, 1)),
        (' 2020-12-01T00:00:00+00:00 ', date(2020, 12, 1)),
    ],
)
def test_execution_date_as_mage_and_people_pass_it(value, expected):
    assert parse_execution_date(value) == expected


@pytest.mark.parametrize('value', ['2020-13-01', 'October 2020', '', 20201001, None])
def test_a_bad_execution_date_is_named(value):
    with pytest.raises(ValueError, match=r'pipeline variable execution_date=.* is not a date'):
        parse_execution_date(value)


def test_a_run_started_by_a_person_loads_its_variables_month():
    assert month_of_run(DEFAULTS, date_driven=False) == TaxiMonth('yellow', 2021, 1)
    named = {**DEFAULTS, 'service': 'green', 'year': 2020, 'month': 10, 'execution_date': datetime(2026, 11, 25)}
    assert month_of_run(named, date_driven=False) == TaxiMonth('green', 2020, 10)


def test_a_date_driven_run_loads_its_execution_dates_month_whatever_the_defaults():
    run = {**DEFAULTS, 'service': 'green', 'execution_date': datetime(2020, 11, 1, tzinfo=timezone.utc)}
    assert month_of_run(run, date_driven=True) == TaxiMonth('green', 2020, 11)


def test_without_a_mage_run_only_an_execution_date_given_by_hand_drives_the_month():
    assert run_is_date_driven(DEFAULTS) is False
    assert run_is_date_driven({**DEFAULTS, 'execution_date': '2020-11-01'}) is True
    assert month_of_run({**DEFAULTS, 'execution_date': '2020-11-01'}) == TaxiMonth('yellow', 2020, 11)


def test_the_editors_now_is_not_a_date_anyone_chose():
    """Mage's editor runs a block with execution_date=datetime.now() and no run id: the block
    then loads the variables' month (yellow 2021-01 by default), not this month."""
    editor = {**DEFAULTS, 'execution_date': datetime.now(), 'env': 'dev'}
    assert run_is_date_driven(editor) is False
    assert month_of_run(editor) == TaxiMonth('yellow', 2021, 1)


@pytest.mark.parametrize(
    'execution_date, lag, expected',
    [
        (datetime(2026, 12, 1, 9, tzinfo=timezone.utc), None, (2026, 10)),  # the default: 2 months before
        (datetime(2026, 2, 1, 9, tzinfo=timezone.utc), None, (2025, 12)),  # across a year
        (datetime(2026, 2, 1, 9, tzinfo=timezone.utc), '0', (2026, 2)),
        (datetime(2026, 2, 1, 9, tzinfo=timezone.utc), 14, (2024, 12)),
    ],
)
def test_a_schedules_run_loads_the_month_source_lag_months_before_its_date(execution_date, lag, expected):
    run = {**DEFAULTS, 'service': 'green', 'execution_date': execution_date}
    if lag is not None:
        run['source_lag_months'] = lag
    assert month_of_run(run, started_by='schedule') == TaxiMonth('green', *expected)
    # a backfill (or a date given by hand) names the month itself: no lag
    assert month_of_run(run, started_by='backfill') == TaxiMonth('green', execution_date.year, execution_date.month)


@pytest.mark.parametrize('lag', ['-1', 'two', 121])
def test_a_bad_source_lag_is_named(lag):
    run = {**DEFAULTS, 'execution_date': datetime(2026, 2, 1), 'source_lag_months': lag}
    with pytest.raises(
        ValueError, match=r'pipeline variable source_lag_months=.* must be a whole number from 0 to 120'
    ):
        month_of_run(run, started_by='schedule')


def test_the_source_comes_from_the_variables_then_taxi_source(monkeypatch):
    assert month_of_run(DEFAULTS, date_driven=False).source == 'course'
    monkeypatch.setenv('TAXI_SOURCE', 'tlc')
    assert month_of_run(DEFAULTS, date_driven=False) == TaxiMonth('yellow', 2021, 1, 'tlc')
    assert month_of_run({**DEFAULTS, 'source': 'course'}, date_driven=False).source == 'course'
    monkeypatch.setenv('TAXI_SOURCE', 'kaggle')
    with pytest.raises(ValueError, match="pipeline variable source='kaggle' is not one of course, tlc"):
        month_of_run(DEFAULTS, date_driven=False)


def test_a_run_is_labelled_with_what_it_loads():
    """The words the run lists and alerts show after a run's trigger (scripts/mage/mage_patches/run_labels.py)."""
    from utils.steps.run_month import label_of_run

    person = {'service': 'yellow', 'year': 2021, 'month': 1}
    assert label_of_run(person, '2026-12-03T10:00:00', 'person') == 'yellow 2021-01'
    assert label_of_run(person, '2020-12-01T00:00:00+00:00', 'backfill') == 'yellow 2020-12'  # its date's month
    assert label_of_run({**person, 'source_lag_months': 2}, datetime(2026, 12, 1), 'schedule') == 'yellow 2026-10'
    assert label_of_run({'year': 2020, 'months': [10, 11, 12]}, None, 'person') == 'green 2020-10,11,12'  # homework
    assert label_of_run({'service': 'blue', 'year': 2021, 'month': 13}, None, 'person') == 'blue 2021-13'  # as asked
    assert label_of_run({'service': 'green', 'year': '20x', 'month': 1}, None, 'person') == 'green 20x-1'
    assert label_of_run({}, None, 'person') == ''  # a pipeline that loads no month
    assert label_of_run({'service': 'green'}, '2026-12-03T10:00:00', 'person') == 'green'  # one of a service


@pytest.mark.parametrize('started_by', ['person', 'date', 'backfill', 'schedule'])
def test_every_caller_gets_one_answer_to_which_month(started_by):
    """The block's month and the run list's label ask year_and_month (so does a failed run's audit
    row: tests/pipelines/test_sensors.py), so a schedule's run is labelled with the month it loads."""
    from utils.steps.run_month import label_of_run, year_and_month

    day = datetime(2026, 2, 1, 9, tzinfo=timezone.utc)
    run = {**DEFAULTS, 'service': 'green', 'execution_date': day, 'source_lag_months': 2}
    year, month = year_and_month(run, started_by)
    expected = {'person': (2021, 1), 'date': (2026, 2), 'backfill': (2026, 2), 'schedule': (2025, 12)}[started_by]
    assert (year, month) == expected
    as_run = month_of_run(run, started_by=None if started_by == 'person' else started_by, quiet=True)
    assert (as_run.year, as_run.month) == expected
    if started_by != 'date':  # a date given by hand is a `mage run` thing; Mage's lists never show one
        assert label_of_run(run, day, started_by) == f'green {year}-{month:02d}'
