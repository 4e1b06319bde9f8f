import gzip
import logging

import pytest
from conftest import GREEN_MONTH, YELLOW_SAMPLE
from support.source_server import Fault

from utils.domain import taxi_source
from utils.domain.taxi_source import SourceError, TaxiMonth


def download(*args, **kwargs):
    """taxi_source.download with short waits between retries (TAXI_HTTP_BACKOFF 0.05)."""
    return taxi_source.download(*args, **{'backoff': 0.05, **kwargs})


def test_month_from_pipeline_variables():
    m = TaxiMonth.from_vars({'service': ' Green ', 'year': '2020', 'month': '01'})
    assert m == TaxiMonth('green', 2020, 1)
    assert m.url('http://x/dl/') == 'http://x/dl/green/green_tripdata_2020-01.csv.gz'


def test_each_release_has_its_address_and_says_what_it_publishes():
    course = TaxiMonth.from_vars({'service': 'fhv', 'year': 2019, 'month': 1})
    tlc = TaxiMonth.from_vars({'service': 'fhvhv', 'year': 2025, 'month': 1, 'source': 'TLC'})
    assert course.url('http://x/dl') == 'http://x/dl/fhv/fhv_tripdata_2019-01.csv.gz'
    assert (
        tlc.url('https://d37ci6vzurychx.cloudfront.net/trip-data')
        == 'https://d37ci6vzurychx.cloudfront.net/trip-data/fhvhv_tripdata_2025-01.parquet'
    )
    assert course.published_range().startswith(
        'the course release (DataTalksClub/nyc-tlc-data) has fhv 2019-01..2021-07'
    )
    assert tlc.published_range() == "the TLC's parquet release has fhvhv from 2019-02 to about two months ago"
    assert (course.label, tlc.label) == ('fhv 2019-01', 'fhvhv 2025-01 (tlc)')
    assert TaxiMonth('yellow', 2021, 8).after_release() and not TaxiMonth('yellow', 2021, 7).after_release()
    assert not TaxiMonth('yellow', 2026, 10, 'tlc').after_release()  # the TLC still publishes


def test_a_parquet_download_that_is_not_parquet_is_named(source, served, tmp_path):
    path = served('yellow', 2030, 6, b'<html>not found</html>', gzipped=True)
    with pytest.raises(SourceError, match=r'is not a parquet file \(it starts with'):
        download(source.base_url + path, tmp_path / 'f.parquet', parquet=True, retries=0)


def test_a_missing_month_names_what_its_release_has(source, tmp_path):
    month = TaxiMonth('green', 2021, 5, 'tlc')
    url = month.url(source.base_url)
    with pytest.raises(
        SourceError, match=r"HTTP 404 .*\(no such file: the TLC's parquet release has green from 2013-08"
    ):
        download(url, tmp_path / 'f.parquet', parquet=True, retries=0, not_found_hint=month.published_range())


@pytest.mark.parametrize(
    'variables, message',
    [
        (
            {'service': 'yellow', 'year': 2021, 'month': 1, 'source': 'kaggle'},
            "source='kaggle' is not one of course, tlc",
        ),
        ({'service': 'blue', 'year': 2021, 'month': 1}, "unknown taxi service 'blue'"),
        ({'service': 'yellow', 'year': 2021, 'month': 13}, 'month=13 is outside 1..12'),
        ({'service': 'yellow', 'year': 'twenty', 'month': 1}, "year='twenty' is not a whole number"),
        ({'service': 'yellow', 'month': 1}, 'year=None is not a whole number'),
    ],
)
def test_bad_variables_are_named(variables, message):
    with pytest.raises(ValueError, match=message):
        TaxiMonth.from_vars(variables)


def test_download_streams_the_file(source, tmp_path):
    dest = tmp_path / 'y.csv.gz'
    size = download(f'{source.base_url}/yellow/{YELLOW_SAMPLE.name}', dest)
    assert dest.read_bytes() == YELLOW_SAMPLE.read_bytes()
    assert size == YELLOW_SAMPLE.stat().st_size


def test_404_names_the_url_and_leaves_nothing(source, tmp_path):
    dest = tmp_path / 'y.csv.gz'
    url = f'{source.base_url}/yellow/yellow_tripdata_1999-01.csv.gz'
    with pytest.raises(SourceError, match=r'yellow_tripdata_1999-01.csv.gz answered HTTP 404.*no such file'):
        download(url, dest, retries=0)
    assert list(tmp_path.iterdir()) == []


def test_server_errors_are_retried(source, served, tmp_path):
    path = served('yellow', 2030, 1, b'VendorID\n1\n')
    source.faults[path] = Fault(status=503, times=2)
    download(source.base_url + path, tmp_path / 'f.gz', retries=3)
    assert gzip.decompress((tmp_path / 'f.gz').read_bytes()) == b'VendorID\n1\n'
    assert source.requests.count(path) == 3


def test_server_error_forever_fails_after_retries(source, served, tmp_path):
    path = served('yellow', 2030, 2, b'VendorID\n1\n')
    source.faults[path] = Fault(status=500)
    with pytest.raises(SourceError, match='answered HTTP 500'):
        download(source.base_url + path, tmp_path / 'f.gz', retries=2)
    assert source.requests.count(path) == 3
    assert list(tmp_path.iterdir()) == []


def test_stalled_body_times_out(source, served, tmp_path):
    path = served('yellow', 2030, 3, b'VendorID\n1\n')
    source.faults[path] = Fault(stall_seconds=3)
    with pytest.raises(SourceError, match='Timeout'):
        download(source.base_url + path, tmp_path / 'f.gz', timeout=0.5, retries=0)
    assert list(tmp_path.iterdir()) == []


def test_connection_cut_mid_body(source, served, tmp_path):
    path = served('yellow', 2030, 4, YELLOW_SAMPLE.read_bytes(), gzipped=True)
    source.faults[path] = Fault(cut_after=1000)
    with pytest.raises(SourceError, match=r'IncompleteRead|incomplete|Connection broken'):
        download(source.base_url + path, tmp_path / 'f.gz', retries=0)
    assert list(tmp_path.iterdir()) == []


def test_not_gzip(source, served, tmp_path):
    path = served('yellow', 2030, 5, b'<html>rate limited</html>', gzipped=True)
    with pytest.raises(SourceError, match=r'is not a gzip file'):
        download(source.base_url + path, tmp_path / 'f.gz')


def test_unreachable_host(tmp_path):
    from scripts.stack.processes import free_port

    with pytest.raises(SourceError, match='ConnectionError'):
        download(f'http://127.0.0.1:{free_port()}/x.csv.gz', tmp_path / 'f.gz', retries=0)


def progress_lines(caplog, prefix: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == 'utils.domain.progress' and r.getMessage().startswith(prefix)]


def test_a_slow_download_reports_its_progress(source, served, tmp_path, monkeypatch, caplog):
    """The real October 2020 green month over a slow link (600 kB/s, ~3 s): a line at least
    every TAXI_PROGRESS_SECONDS (as the steps pass it: download_settings()), each with the MB so
    far of the whole."""
    from utils.sinks.environment import download_settings

    monkeypatch.setenv('TAXI_PROGRESS_SECONDS', '1')
    caplog.set_level(logging.INFO, logger='utils.domain.progress')
    path = served('green', 2020, 10, GREEN_MONTH.read_bytes(), gzipped=True)
    source.faults[path] = Fault(bytes_per_second=600_000)
    url = source.base_url + path
    assert download(url, tmp_path / 'month.csv.gz', **download_settings()) == GREEN_MONTH.stat().st_size
    lines = progress_lines(caplog, f'downloading {url}: ')
    assert len(lines) >= 2, caplog.text
    assert all(f' of {GREEN_MONTH.stat().st_size / 1e6:.1f} MB (' in r.getMessage() for r in lines), caplog.text
    seconds = [float(r.getMessage().rsplit('after ', 1)[1].removesuffix(' s')) for r in lines]
    gaps = [b - a for a, b in zip([0.0, *seconds], seconds, strict=False)]  # from the start, then between lines
    assert max(gaps) < 2.0, seconds


@pytest.mark.parametrize(
    'month, says',
    [
        (
            TaxiMonth('yellow', 2010, 5, 'tlc'),
            "is refused: the TLC's parquet of yellow 2009-01..2010-12 has that period",
        ),
        (TaxiMonth('green', 2013, 7, 'tlc'), 'is not in the TLC release, which starts at 2013-08'),
        (TaxiMonth('green', 2018, 12), 'is not in the course release'),
        (TaxiMonth('fhvhv', 2019, 1), 'is not in the course release'),
        (TaxiMonth('yellow', 2021, 8), 'is not in the course release'),
    ],
)
def test_a_month_no_release_has_or_of_a_layout_not_read_is_refused_naming_what_loads(month, says):
    why = month.refused()
    assert why is not None and why.startswith(f'{month.label} {says}'), why
    first_tlc = '2011-01' if month.service == 'yellow' else {'green': '2013-08', 'fhvhv': '2019-02'}[month.service]
    assert why.endswith(
        f'{month.service} loads from the TLC ({first_tlc} to about two months ago, source=tlc) and from the course '
        f'release ({"2019-02" if month.service == "fhvhv" else "2019-01"}..2021-07, source=course)'
    ), why


@pytest.mark.parametrize(
    'month',
    [TaxiMonth('yellow', 2011, 1, 'tlc'), TaxiMonth('yellow', 2019, 1), TaxiMonth('fhv', 2015, 1, 'tlc')],
    ids=str,
)
def test_the_months_that_load_are_not_refused(month):
    assert month.refused() is None
