"""scripts/dev/lint.py's sqlfluff: each dbt target is linted as dbt compiles it for that target, in
that target's dialect, on a throwaway PostgreSQL and the BigQuery emulator (not in make
test-quick: about 30 s)."""

from __future__ import annotations

import shutil

from scripts.dev import lint


def test_each_target_is_linted_in_its_own_dialect(tmp_path, capsys):
    """`select distinct on (...)` is PostgreSQL's alone: the postgres target's lint takes it, the
    bigquery target's fails and names the model."""
    project = tmp_path / 'taxi_marts'
    shutil.copytree(lint.DBT_PROJECT, project, ignore=shutil.ignore_patterns('target', 'logs', 'dbt_packages'))
    model = project / 'models' / 'core' / 'dim_zones.sql'
    sql = model.read_text()
    assert 'select\n    location_id,' in sql
    model.write_text(sql.replace('select\n    location_id,', 'select distinct on (location_id)\n    location_id,'))
    with lint.throwaway_warehouses() as settings:
        assert lint.sqlfluff('postgres', 'yellow', settings, project)
        capsys.readouterr()
        assert not lint.sqlfluff('bigquery', 'yellow', settings, project)
    assert '[models/core/dim_zones.sql] FAIL' in capsys.readouterr().out
