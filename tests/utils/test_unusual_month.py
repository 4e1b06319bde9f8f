"""utils/domain/unusual_month.py: a month far outside its neighbours' range is found, on the real
bundled months and on months made unusual on purpose (each labelled SYNTHETIC)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from utils.domain.cleaning import clean_file
from utils.domain.taxi_files import csv_to_parquet
from utils.domain.taxi_schema import schema_for
from utils.domain.unusual_month import MonthCounts, Thresholds, findings, nearest
from utils.sinks.environment import REPO_ROOT


def counts_of(path: Path, service: str, tmp_path: Path) -> MonthCounts:
    """A bundled month's figures as its load records them (read, kept, kept without zones)."""
    csv_to_parquet(path, tmp_path / 'raw.parquet', schema_for(service), path.name)
    counted = clean_file(tmp_path / 'raw.parquet', tmp_path / 'clean.parquet', schema_for(service))
    year, month = path.name.split('_')[-1].removesuffix('.csv.gz').split('-')
    return MonthCounts(
        date(int(year), int(month), 1), counted['rows_in'], counted['rows_out'], counted['rows_without_zones']
    )


@pytest.fixture(scope='module')
def fhv_2019(tmp_path_factory) -> list[MonthCounts]:
    folder = tmp_path_factory.mktemp('fhv')
    return [
        counts_of(p, 'fhv', folder) for p in sorted((REPO_ROOT / 'samples' / 'fhv').glob('fhv_tripdata_2019-*.csv.gz'))
    ]


def test_the_bundled_fhv_months_are_alike(fhv_2019):
    """The real lines of fhv 2019 (100 a month; 66 % to 100 % of them without a known zone): no
    month is far outside its six nearest months' range."""
    assert [m.rows_without_zones for m in fhv_2019] == [100, 86, 87, 92, 82, 85, 94, 80, 66, 81, 81, 93]
    for month in fhv_2019:
        assert findings(month, nearest(month.month, fhv_2019, 6), Thresholds()) == [], month


def test_a_month_with_a_tenth_of_its_neighbours_rows_is_found(fhv_2019):
    small = MonthCounts(date(2019, 8, 1), 10, 10, 8)  # SYNTHETIC: 2019-08 cut to its first 10 lines
    others = [m for m in fhv_2019 if m.month != small.month]
    neighbours = nearest(small.month, others, 6)
    assert [f'{m.month:%m}' for m in neighbours] == ['05', '06', '07', '09', '10', '11']
    assert findings(small, neighbours, Thresholds()) == [
        '10 rows read where its 6 neighbours read 100 (under 1/3 of the fewest: unusual_rows_ratio 3)'
    ]
    assert findings(small, neighbours, Thresholds(rows_ratio=20)) == []  # the threshold is the variable's


def test_a_month_that_drops_most_of_its_rows_is_found():
    """90 % dropped where the neighbours drop about 5 % (SYNTHETIC figures), and zones lost."""
    neighbours = [MonthCounts(date(2021, m, 1), 1000, 950 + m, 10) for m in (1, 2, 4, 5)]
    month = MonthCounts(date(2021, 3, 1), 1000, 100, 60)
    assert findings(month, neighbours, Thresholds()) == [
        '10 % of its rows kept where its neighbours had 95..96 % (more than 20 points outside: unusual_share_points 20)',
        '60 % of its rows without zones where its neighbours had 1 % (more than 20 points outside: '
        'unusual_share_points 20)',
    ]
    a_little_less = MonthCounts(date(2021, 3, 1), 1000, 800, 150)  # 15 points under, 14 over: alike
    assert findings(a_little_less, neighbours, Thresholds()) == []


def test_with_fewer_than_three_neighbours_nothing_is_said(tmp_path):
    """The homework's quarter, green 2020-10..12 (real, whole months): two neighbours each."""
    green = [counts_of(p, 'green', tmp_path) for p in sorted((REPO_ROOT / 'samples' / 'green').glob('*.csv.gz'))]
    assert [m.rows_read for m in green] == [95_120, 88_605, 83_130]
    odd = MonthCounts(date(2020, 12, 1), 5, 1, 1)  # SYNTHETIC: December made tiny
    assert [m.month.month for m in nearest(odd.month, green, 6)] == [10, 11]  # never itself
    assert findings(odd, nearest(odd.month, green, 6), Thresholds()) == []
    september = MonthCounts(date(2020, 9, 1), 90_000, 50_000, 600)  # SYNTHETIC: a third neighbour
    assert len(findings(odd, nearest(odd.month, [*green, september], 6), Thresholds())) == 3


def test_a_load_recorded_before_zones_were_counted_is_compared_on_the_rest():
    neighbours = [MonthCounts(date(2020, m, 1), 100, 95, None) for m in (1, 2, 3)]
    assert findings(MonthCounts(date(2020, 4, 1), 100, 95, 90), neighbours, Thresholds()) == []


@pytest.mark.parametrize(
    'variables, message',
    [
        ({'unusual_rows_ratio': '0.5'}, r"unusual_rows_ratio='0.5' must be a number from 1 to 1000"),
        ({'unusual_share_points': 'lots'}, r"unusual_share_points='lots' must be a number from 0 to 100"),
        ({'unusual_neighbours': 2}, r'unusual_neighbours=2 must be a number from 3 to 60'),
        ({'unusual_neighbours': 4.5}, r'unusual_neighbours=4.5 is not whole'),
    ],
)
def test_a_bad_threshold_names_its_variable(variables, message):
    with pytest.raises(ValueError, match=message):
        Thresholds.from_vars(variables)


def test_the_thresholds_default_to_the_documented_values():
    assert Thresholds.from_vars({}) == Thresholds(3.0, 20.0, 6)
    assert Thresholds.from_vars({'unusual_rows_ratio': '10', 'unusual_neighbours': '12'}) == Thresholds(10.0, 20.0, 12)
