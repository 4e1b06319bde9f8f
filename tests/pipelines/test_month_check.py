"""A month unlike its neighbours, through the running Mage server of the session's `make up`
stack: the run completes, flag_unusual_month logs a WARNING, a warning alert reaches the real
webhook receiver (ALERT_WEBHOOK_URL), apart from the failure alerts, and unusual_months lists the
month for the dashboard (tests/ui/test_dashboards.py draws it)."""

import gzip
from datetime import date

import pytest
from conftest import query

from scripts.stack.processes import wait_until

pytestmark = pytest.mark.mage


def load(stack, month: date, **more) -> int:
    variables = {'service': 'fhv', 'year': month.year, 'month': month.month, 'refresh_marts': False, **more}
    return stack.mage.trigger('api_to_postgres', variables)


def test_a_month_unlike_its_neighbours_completes_with_a_warning_alert(stack, db):
    neighbours = [load(stack, date(2019, m, 1)) for m in (2, 3, 4)]  # the real fhv 2019 lines, 100 a month
    for run_id in neighbours:
        done = stack.mage.result(stack.mage.wait(run_id, 300))
        assert done.ok, (done, done.error)
    # SYNTHETIC: fhv 2020-03 (a month no bundled file has), the real 2019-08's first 10 lines moved to it
    august = gzip.decompress((stack.checkout / 'samples' / 'fhv' / 'fhv_tripdata_2019-08.csv.gz').read_bytes())
    small = b'\n'.join(august.split(b'\n')[:11]).replace(b'2019-08-', b'2020-03-') + b'\n'
    (stack.checkout / 'samples' / 'fhv' / 'fhv_tripdata_2020-03.csv.gz').write_bytes(gzip.compress(small))

    run_id = load(stack, date(2020, 3, 1))
    done = stack.mage.result(stack.mage.wait(run_id, 300))
    assert done.status == 'completed' and done.blocks['flag_unusual_month'] == 'completed', done
    log = stack.mage.block_log('api_to_postgres', run_id, 'flag_unusual_month')
    assert 'fhv 2020-03 is unlike its neighbours (' in log and '10 rows read where its ' in log, log[-2000:]
    ((findings,),) = query(
        db,
        "SELECT findings FROM ny_taxi.unusual_months WHERE service = 'fhv' AND month = %s AND run_id = %s",
        (date(2020, 3, 1), run_id),
    )
    assert findings.startswith('fhv 2020-03 is unlike its neighbours (') and '(under 1/3 of the fewest' in findings

    warnings: list[str] = []
    wait_until(
        lambda: (
            warnings.extend(t for t in map(stack.alerts.text, stack.alerts.posts) if f', run {run_id},' in t)
            or warnings
        ),
        60,
        'the warning alert',
        interval=0.5,
    )
    (warning,) = warnings
    assert warning.startswith('Mage: api_to_postgres warning\n'), warning  # not `failed`
    assert f'Pipeline `api_to_postgres`, run {run_id}, completed, but {findings}' in warning, warning
    assert 'SELECT * FROM ny_taxi.unusual_months ORDER BY checked_at DESC' in warning
