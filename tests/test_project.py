"""The repo as a Mage project: requirements, settings, pipelines and block wiring, samples.
(The compose file and the Dockerfile: tests/test_compose_file.py.)"""

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO

BLOCK_FOLDERS = {
    'data_loader': 'data_loaders',
    'transformer': 'transformers',
    'data_exporter': 'data_exporters',
    'custom': 'custom',
    'dbt': 'dbts',
    'sensor': 'sensors',
}


def pipelines() -> list[Path]:
    return sorted(p.parent for p in (REPO / 'pipelines').glob('*/metadata.yaml'))


def test_our_requirements_keep_the_versions_the_real_mage_image_has():
    """mageai/mageai:0.9.80 has mage-ai[all]: `pip install -r requirements.txt` there must not
    replace a version it pins (the Mage stand-in of the compose test installs those pins)."""
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    ours = {
        Requirement(line).name: Requirement(line)
        for line in (REPO / 'requirements.txt').read_text().splitlines()
        if line.strip() and not line.startswith('#')
    }
    pinned = [Requirement(r) for r in requires('mage-ai') if 'extra == "all"' in r]
    overlap = {r.name: r for r in pinned if r.name in ours and r.marker.evaluate({'extra': 'all'})}
    assert set(overlap) == {
        'psycopg2-binary',
        'google-cloud-storage',
        'google-cloud-bigquery',
        'sshtunnel',
        'dbt-core',
        'dbt-postgres',
        'dbt-bigquery',
        'dbt-adapters',
        'prometheus_client',
        'opentelemetry-exporter-prometheus',
        'opentelemetry-instrumentation-tornado',
    }
    for name, theirs in overlap.items():
        floor = re.match(r'>=([\w.]+)$', str(theirs.specifier))
        if floor:  # a floor, not a pin: ours is the same floor
            assert ours[name].specifier == theirs.specifier, (
                f'{name}: ours {ours[name].specifier}, theirs {theirs.specifier}'
            )
            continue
        version = re.match(r'(?:==|~=)([\d.]+)$', str(theirs.specifier)).group(1)
        assert ours[name].specifier.contains(version), f'{name}: ours {ours[name].specifier}, the image has {version}'
    standin = (REPO / 'tests' / 'compose' / 'standins' / 'mageai' / 'Dockerfile').read_text()
    assert all(f"'{theirs.name}{theirs.specifier}'" in standin for theirs in overlap.values()), standin


def test_requirements_avoid_the_postgres_extra_and_declare_sshtunnel():
    text = '\n'.join(line for line in (REPO / 'requirements.txt').read_text().splitlines() if not line.startswith('#'))
    assert 'mage-ai[' not in text
    assert re.search(r'^sshtunnel', text, re.M)
    for name in (
        'psycopg2-binary',
        'pandas',
        'pyarrow',
        'requests',
        'pyyaml',
        'google-cloud-storage',
        'google-cloud-bigquery',
    ):
        assert re.search(rf'^{name}\b', text, re.M), name


def test_no_usage_telemetry():
    assert yaml.safe_load((REPO / 'metadata.yaml').read_text())['help_improve_mage'] is False


def test_secrets_and_local_data_are_ignored():
    paths = ['.env', '.data/postgres/PG_VERSION', 'keys/sa.json', 'my-service-account.json', '.venv/bin/python']
    done = subprocess.run(['git', 'check-ignore', '--no-index', *paths], cwd=REPO, capture_output=True, text=True)
    assert sorted(done.stdout.split()) == sorted(paths)
    tracked = subprocess.run(['git', 'ls-files'], cwd=REPO, capture_output=True, text=True).stdout.split()
    assert 'dev.env' in tracked and '.env' not in tracked
    assert not [f for f in tracked if f.endswith('.json') and 'fixtures' not in f]


def test_dev_env_holds_only_local_defaults():
    from dotenv import dotenv_values

    values = dotenv_values(REPO / 'dev.env')
    assert values['POSTGRES_HOST'] in ('127.0.0.1', 'localhost')
    assert not any('PRIVATE KEY' in (v or '') for v in values.values())
    assert values['IO_CONFIG_PROFILE'] == 'local'


def test_the_arrow_allocator_of_dev_env_is_the_one_in_use():
    """pyarrow reads ARROW_DEFAULT_MEMORY_POOL at import and falls back, with a warning only, to
    its default when the name is unknown or not built in: check the installed pyarrow takes it."""
    from dotenv import dotenv_values

    values = dotenv_values(REPO / 'dev.env')
    assert values['ARROW_DEFAULT_MEMORY_POOL'] == 'jemalloc'
    arrow = {k: v for k, v in values.items() if k in ('ARROW_DEFAULT_MEMORY_POOL', 'JE_ARROW_MALLOC_CONF')}
    code = 'import pyarrow as pa; pa.array(range(10**6)); print(pa.default_memory_pool().backend_name)'
    done = subprocess.run([sys.executable, '-c', code], env={**os.environ, **arrow}, capture_output=True, text=True)
    assert done.stdout.strip() == 'jemalloc', done.stderr
    assert done.stderr == ''  # jemalloc complains on stderr about a conf pair it does not know
    bad = subprocess.run(
        [sys.executable, '-c', code],
        env={**os.environ, **arrow, 'JE_ARROW_MALLOC_CONF': 'dirty_decay:1'},
        capture_output=True,
        text=True,
    )
    assert '<jemalloc>' in bad.stderr  # ... so the check above can fail


@pytest.mark.parametrize('pipeline', pipelines(), ids=lambda p: p.name)
def test_blocks_are_named_files_wired_both_ways(pipeline):
    meta = yaml.safe_load((pipeline / 'metadata.yaml').read_text())
    assert meta['uuid'] == pipeline.name
    blocks = {b['uuid']: b for b in meta['blocks']}
    for uuid, block in blocks.items():
        suffix = {'python': '.py', 'sql': '.sql', 'yaml': '.yaml'}[block['language']]  # dbt command blocks: .yaml
        assert (REPO / BLOCK_FOLDERS[block['type']] / f'{uuid}{suffix}').is_file(), uuid
        assert block['name'] == uuid
        for up in block['upstream_blocks']:
            assert uuid in blocks[up]['downstream_blocks'], (up, uuid)


def absolute_paths(value) -> list[str]:
    """Every string in a parsed YAML document that is an absolute path of some machine."""
    if isinstance(value, dict):
        return [p for v in value.values() for p in absolute_paths(v)]
    if isinstance(value, list):
        return [p for v in value for p in absolute_paths(v)]
    return [value] if isinstance(value, str) and re.match(r'^(/|[A-Za-z]:[\\/])', value.strip()) else []


def test_no_committed_pipeline_or_project_file_holds_a_machine_path():
    """Mage's editor saves a pipeline in its long form with `variables_dir: <this machine's
    checkout>/...`: such a file must not be committed (a user's machine has no such path)."""
    tracked = subprocess.run(
        ['git', 'ls-files', 'metadata.yaml', 'io_config.yaml', 'pipelines'],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    yamls = [name for name in tracked if name.endswith(('.yaml', '.yml'))]
    assert 'pipelines/api_to_postgres/metadata.yaml' in yamls
    found = {name: absolute_paths(yaml.safe_load((REPO / name).read_text())) for name in yamls}
    assert {name: paths for name, paths in found.items() if paths} == {}
    assert absolute_paths({'variables_dir': '/work/main/.data/mage/main'}) == ['/work/main/.data/mage/main']


def test_every_block_file_is_used_by_a_pipeline():
    used = {b['uuid'] for p in pipelines() for b in yaml.safe_load((p / 'metadata.yaml').read_text())['blocks']}
    files = {
        f.stem
        for folder in BLOCK_FOLDERS.values()
        for pattern in ('*.py', '*.sql', '*.yaml')
        for f in (REPO / folder).glob(pattern)
        if f.stem != '__init__'
    }
    assert files == used


def test_mage_loads_every_pipeline():
    from mage_ai.data_preparation.models.pipeline import Pipeline

    for path in pipelines():
        pipeline = Pipeline.get(path.name, repo_path=str(REPO))
        assert pipeline.blocks_by_uuid, path.name
        assert all(b.file_path and Path(b.file_path).is_file() for b in pipeline.blocks_by_uuid.values())


def test_samples_keep_their_provenance():
    provenance = (REPO / 'samples' / 'PROVENANCE.md').read_text()
    files = [
        *(REPO / 'samples').rglob('*.csv*'),
        *(REPO / 'samples').rglob('*.parquet'),
        *(REPO / 'tests' / 'fixtures').glob('*.csv*'),
    ]
    for f in sorted(files):
        name = str(f.relative_to(REPO))
        pattern = re.sub(r'2019-\d\d', '2019-MM', name)  # samples/fhv/fhv_tripdata_2019-MM.csv.gz
        assert f'`{name}`' in provenance or f'`{pattern}`' in provenance, f


def test_the_bundled_fhv_and_parquet_samples_are_rebuilt_byte_for_byte(tmp_path):
    """scripts/dev/bundle_samples.py makes them from ../shared/data (real rows only): the same bytes."""
    shared = REPO.parent / 'shared' / 'data'
    if not (shared / 'tlc').is_dir():
        pytest.skip(f'{shared}/tlc is not here (CI has it beside the clone)')
    (tmp_path / 'yellow').mkdir()
    shutil.copy(REPO / 'samples' / 'yellow' / 'yellow_tripdata_2021-01.csv.gz', tmp_path / 'yellow')
    subprocess.run(
        [sys.executable, 'scripts/dev/bundle_samples.py', '--shared', str(shared), '--out', str(tmp_path)],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    assert sorted(p.name for p in (tmp_path / 'green').iterdir()) == [
        'green_tripdata_2020-11.csv.gz',
        'green_tripdata_2020-12.csv.gz',
    ]
    # bundled as they came, not rebuilt: the course's own green 2020-10 and the lines of the
    # course's fhvhv 2021-06 that a student printed (samples/PROVENANCE.md)
    as_they_came = {'green_tripdata_2020-10.csv.gz', 'fhvhv_tripdata_2021-06.csv.gz'}
    for folder in ('fhv', 'fhvhv', 'trip-data', 'green'):
        built = sorted(p.name for p in (tmp_path / folder).iterdir())
        bundled = sorted(p.name for p in (REPO / 'samples' / folder).iterdir())
        assert built == [n for n in bundled if n not in as_they_came], folder
        for name in built:
            assert (tmp_path / folder / name).read_bytes() == (REPO / 'samples' / folder / name).read_bytes(), name


def test_the_course_csv_written_back_from_the_students_parquet_reads_as_the_original():
    """The homework's November and December are a student's parquet of the course's CSVs, written
    back as CSV (bundle_samples.course_csv). The same conversion of October reads, with pandas as
    the course reads it, value for value as the course's own October file."""
    import pandas as pd

    from scripts.dev.bundle_samples import course_csv

    shared = REPO.parent / 'shared' / 'data'
    if not (shared / 'course_q4').is_dir():
        pytest.skip(f'{shared}/course_q4 is not here (CI has it beside the clone)')
    written = pd.read_csv(io.StringIO(course_csv(shared / 'course_q4' / 'green_tripdata_2020-10.parquet')))
    original = pd.read_csv(REPO / 'samples' / 'green' / 'green_tripdata_2020-10.csv.gz')
    assert written.shape == (95_120, 20)
    pd.testing.assert_frame_equal(written, original)


def test_no_module_mage_can_import_looks_like_a_dbt_plugin():
    """dbt imports every top-level module whose name starts with dbt_ (it looks for plugins);
    scripts/mage/ is on sys.path in the Mage server (scripts/mage/start_mage.py runs as a script), and
    the repo root too: a dbt_*.py there would be imported by every dbt block, with its imports."""
    tops = [p.name for folder in (REPO, REPO / 'scripts' / 'mage') for p in folder.iterdir()]
    assert not [name for name in tops if name.startswith('dbt_')], tops
