"""The one-line reason of a failed block (utils/steps/failures.py): an exception with the notes added on
its way up, and a dbt invocation's failed nodes read from the run_results.json dbt writes."""

import json
import os
from datetime import datetime, timedelta, timezone

from utils.domain.errors import add_note, reason
from utils.domain.taxi_source import SourceError
from utils.steps.failures import dbt_reason, dbt_target_dir


def test_the_reason_is_one_line_with_the_notes_after_the_month_and_the_cause():
    error = SourceError(
        'GET http://x/yellow_tripdata_2021-05.csv.gz answered HTTP 404 Not Found\n(no such file)',
        cause='HTTP 404 Not Found',
    )
    add_note(error, 'load_taxi_csv failed for yellow 2021-05')
    assert reason(error) == (
        'yellow 2021-05, HTTP 404 Not Found: SourceError: GET http://x/yellow_tripdata_2021-05.csv.gz answered '
        'HTTP 404 Not Found (no such file); load_taxi_csv failed for yellow 2021-05'
    )
    assert reason(ValueError('month=13 is outside 1..12')) == 'ValueError: month=13 is outside 1..12'  # nothing known
    other = RuntimeError('the staging table is gone')
    add_note(other, 'export_taxi_to_postgres failed for green 2020-10 (kept: the month as it was)')
    assert reason(other).startswith('green 2020-10: RuntimeError: the staging table is gone; ')


def test_a_note_is_added_on_python_3_10_too():
    """The mageai/mageai:0.9.80 image runs Python 3.10, whose exceptions have no add_note (a
    failed load there used to fail again with AttributeError, hiding why). Run on this machine's
    pyenv 3.10 (the compose test's stand-in image copies the same one)."""
    import subprocess

    from support.engine import pyenv_python

    from utils.sinks.environment import REPO_ROOT

    code = (
        'import sys; from utils.domain.errors import add_note, reason; e = ValueError("month=13 is outside 1..12"); '
        'add_note(e, "load_taxi_csv failed for yellow 2021-13"); print(sys.version_info[:2], reason(e))'
    )
    done = subprocess.run(
        [str(pyenv_python('3.10') / 'bin' / 'python'), '-c', code],
        capture_output=True,
        text=True,
        env={'PYTHONPATH': str(REPO_ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.strip()
        == '(3, 10) yellow 2021-13: ValueError: month=13 is outside 1..12; load_taxi_csv failed for yellow 2021-13'
    )


def write_results(folder, results):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / 'run_results.json').write_text(json.dumps({'results': results}))


def test_a_dbt_reason_names_the_failed_nodes_of_this_invocation_only(tmp_path):
    target = dbt_target_dir(tmp_path, '--select taxi_marts --target-path target/postgres')
    assert target == tmp_path / 'target' / 'postgres'
    started = datetime.now(timezone.utc) - timedelta(seconds=5)
    write_results(
        target,
        [
            {'unique_id': 'model.taxi_marts.dim_zones', 'status': 'success', 'message': 'INSERT 0 265'},
            {
                'unique_id': 'test.taxi_marts.dim_zones_has_every_trip_zone',
                'status': 'fail',
                'message': 'Got 1 result, configured to fail if != 0',
            },
            {'unique_id': 'model.taxi_marts.fact_trips', 'status': 'error', 'message': 'Database Error\n  column x'},
        ],
    )
    assert dbt_reason(target, started) == (
        'dbt test dim_zones_has_every_trip_zone fail: Got 1 result, configured '
        'to fail if != 0; dbt model fact_trips error: Database Error column x'
    )
    old = (started - timedelta(hours=1)).timestamp()
    os.utime(target / 'run_results.json', (old, old))  # an earlier invocation's results: not this one's
    assert dbt_reason(target, started) is None
    assert dbt_reason(tmp_path / 'nowhere', started) is None
    assert dbt_target_dir(tmp_path, None) == tmp_path / 'target'
