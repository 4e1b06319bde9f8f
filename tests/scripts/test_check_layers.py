"""scripts/dev/check_layers.py: the project keeps its layers, and each contract fails on a wrong
import put into a copy of the project (one per contract), naming the file, line and module."""

from __future__ import annotations

import shutil

import pytest

from scripts.dev import check_layers
from scripts.dev.check_layers import CONTRACTS, REPO_ROOT, broken, cycles, environ_reads, problems_of, unlayered

WRONG_IMPORTS = {  # contract (its first words) -> (file, the line put in it)
    'the domain imports': ('utils/domain/cleaning.py', 'from utils.sinks.postgres_load import load_month'),
    'the sinks import': ('utils/sinks/postgres_load.py', 'from utils.steps.taxi_pipeline import extract_month'),
    'utils/ imports neither': ('utils/domain/zones.py', 'import scripts.ops.backfill'),
    "Mage's internals": ('utils/steps/audit.py', 'from mage_ai.orchestration.db.models.schedules import PipelineRun'),
    'blocks are thin': ('data_loaders/load_taxi_csv.py', 'import psycopg2'),
    'the stack and what reaches': (
        'scripts/stack/run_local.py',
        'from scripts.bench.synthetic_taxi import generate_month',
    ),
}


def test_the_project_keeps_its_layers():
    assert [(c.name, problems_of(c)) for c in CONTRACTS if problems_of(c)] == []
    assert check_layers.main() == 0


@pytest.fixture()
def copy_of_the_project(tmp_path):
    for folder in ('utils', 'scripts', *check_layers.BLOCK_FOLDERS):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns('__pycache__'))
    return tmp_path


@pytest.mark.parametrize(
    'contract',
    [c for c in CONTRACTS if c.files],
    ids=lambda c: c.name[:30],  # the import contracts
)
def test_each_contract_fails_on_a_wrong_import(copy_of_the_project, contract):
    ((file, wrong),) = [v for k, v in WRONG_IMPORTS.items() if contract.name.startswith(k)]
    path = copy_of_the_project / file
    lines = path.read_text().splitlines()
    path.write_text('\n'.join([*lines, wrong, '']))
    module = wrong.split()[1]
    assert broken(contract, copy_of_the_project) == [f'{file}:{len(lines) + 1} imports {module}']


def test_a_module_of_utils_without_a_layer_is_named(copy_of_the_project):
    (copy_of_the_project / 'utils' / 'new_sink.py').write_text('"""A sink nobody placed."""\n')
    assert unlayered(copy_of_the_project) == ['utils/new_sink.py has no layer: put it in utils/domain|sinks|steps/']


def test_an_import_circle_in_utils_is_named_even_inside_a_function(copy_of_the_project):
    """The circle audit -> failures -> audit this project once had: audit imported failures' names
    inside a function, failures imported audit."""
    audit = copy_of_the_project / 'utils' / 'steps' / 'audit.py'
    audit.write_text(audit.read_text() + '\n\ndef _later():\n    from utils.steps.failures import block_failed\n')
    assert cycles(copy_of_the_project) == ['utils.steps.audit -> utils.steps.failures -> utils.steps.audit']


@pytest.mark.parametrize(
    'line',
    ["TIMEOUT = float(os.environ.get('TAXI_HTTP_TIMEOUT', '60'))", "X = os.getenv('X')", 'from os import environ'],
)
def test_the_domain_reading_the_environment_is_named(copy_of_the_project, line):
    progress = copy_of_the_project / 'utils' / 'domain' / 'progress.py'
    lines = progress.read_text().splitlines()
    progress.write_text('\n'.join([*lines, 'import os', line, '']))
    assert environ_reads(copy_of_the_project) == [f'utils/domain/progress.py:{len(lines) + 2} reads the environment']
