"""utils/domain/month_manifest.py: the typed manifest the month pipelines' blocks hand each other,
and its dict form at Mage's edge (what the audit, the dashboards and the inline tests read)."""

from __future__ import annotations

import json

import pytest

from utils.domain.month_manifest import MonthManifest
from utils.domain.taxi_source import TaxiMonth

# what clean_taxi_trips returned for green 2020-10 in a run of api_to_postgres (its keys and types)
CLEANED = {
    'service': 'green',
    'year': 2020,
    'month': 10,
    'source': 'course',
    'raw': False,
    'url': 'http://127.0.0.1:8765/green/green_tripdata_2020-10.csv.gz',
    'bytes': 2_156_810,
    'raw_path': '/work/run-7/green_tripdata_2020-10/raw.parquet',
    'source_version': '"5f3c-64a1"',
    'rows': 95_120,
    'rows_rejected': 0,
    'work_dir': '/work/run-7/green_tripdata_2020-10',
    'clean_path': '/work/run-7/green_tripdata_2020-10/clean.parquet',
    'cleaning': 'service',
    'rows_in': 95_120,
    'rows_out': 52_351,
    'dropped': {'passenger_count_missing': 41_813, 'passenger_count_not_positive': 956},
}


def test_a_block_s_output_reads_back_typed_and_writes_out_as_it_came():
    manifest = MonthManifest.of(CLEANED)
    assert manifest.month == TaxiMonth('green', 2020, 10)
    assert (manifest.rows_out, manifest.dropped, manifest.unchanged) == (52_351, CLEANED['dropped'], False)
    assert manifest.path('clean_path').name == 'clean.parquet'
    assert manifest.to_output() == CLEANED
    assert json.loads(json.dumps(manifest.to_output())) == CLEANED  # what Mage stores between blocks


def test_a_step_hands_on_a_copy_with_its_fields_and_keeps_keys_it_does_not_name():
    loaded = MonthManifest.of({**CLEANED, 'marts_run_id': 12}).but(table='ny_taxi.green_taxi_data', rows_loaded=52_351)
    output = loaded.to_output()
    assert output['marts_run_id'] == 12
    assert (output['table'], output['rows_loaded']) == ('ny_taxi.green_taxi_data', 52_351)
    assert MonthManifest.of(CLEANED).table is None  # the one it was copied from is unchanged


def test_the_editor_s_two_outputs_give_the_manifest():
    assert MonthManifest.of([CLEANED, 'the first rows']).rows == 95_120


def test_an_unset_field_is_left_out_and_a_skipped_month_says_so():
    skipped = MonthManifest(TaxiMonth('yellow', 2021, 1), unchanged=True, unchanged_since_run=3, rows_out=1000)
    assert skipped.to_output() == {
        'service': 'yellow',
        'year': 2021,
        'month': 1,
        'source': 'course',
        'raw': False,
        'unchanged': True,
        'unchanged_since_run': 3,
        'rows_out': 1000,
    }


def test_a_missing_path_and_a_bad_month_are_named():
    with pytest.raises(ValueError, match='manifest of green 2020-10 has no clean_path'):
        MonthManifest.of({k: v for k, v in CLEANED.items() if k != 'clean_path'}).path('clean_path')
    with pytest.raises(ValueError, match=r'month=13 is outside 1\.\.12'):
        MonthManifest.of({**CLEANED, 'month': 13})
