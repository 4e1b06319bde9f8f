"""The layers, written down and checked (`make lint`): which code may import which.

    blocks      data_loaders/ transformers/ data_exporters/ custom/ sensors/ charts/: Mage's
                block files, a few lines each over utils/ (and Mage's block decorators)
    utils/      the blocks' shared code, in layers (docs/architecture.md):
      domain       what a taxi month is and how it is read, checked and cleaned; no database,
                   no cloud, no environment, no Mage
      sinks        where months are written (PostgreSQL, GCS, BigQuery) and the clients the
                   environment picks
      steps        what a run does with a month: its month, files, audit, alerts, marts
      mage_runs    the one module of utils/ that reads Mage's database or starts its runs
    scripts/    the tools around the project (the local stack, make targets, benches, the
                server's start); scripts/mage_patches/ is the one place that patches Mage

Each contract below is checked on every import statement (top-level or inside a function) of
the project's Python files. Run it alone: `python scripts/check_layers.py`.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BLOCK_FOLDERS = ('data_loaders', 'transformers', 'data_exporters', 'custom', 'sensors', 'charts')

DOMAIN = (
    'taxi_schema',
    'schema_drift',
    'data_dictionary',
    'cleaning',
    'taxi_files',
    'taxi_source',
    'zones',
    'progress',
)
SINKS = ('environment', 'postgres_load', 'gcs_io', 'bigquery_load', 'course_views', 'month_lock')
STEPS = (
    'run_month',
    'run_files',
    'audit',
    'alerts',
    'failures',
    'unchanged',
    'month_sensor',
    'taxi_pipeline',
    'green_taxi_etl',
    'marts',
    'marts_follow',
    'load_charts',
    'gcp_setup',
)
MAGE_RUNS = ('mage_runs',)
# Mage's public API for a project: the block decorators, its io classes, its command line
MAGE_PUBLIC = ('mage_ai.data_preparation.decorators', 'mage_ai.io', 'mage_ai.cli')
CLOUD_AND_DATABASE_CLIENTS = ('psycopg2', 'google.cloud', 'google.auth', 'google.oauth2', 'pgpq')


@dataclass(frozen=True)
class Contract:
    name: str
    files: tuple[str, ...]  # globs, relative to the repository
    forbidden: tuple[str, ...]  # module prefixes
    allowed: tuple[str, ...] = ()  # exceptions to `forbidden` (more specific prefixes)
    except_files: tuple[str, ...] = ()


def utils_files(modules: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f'utils/{m}.py' for m in modules)


def utils_modules(modules: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f'utils.{m}' for m in modules)


CONTRACTS = (
    Contract(
        'the domain imports neither the sinks, the steps, the environment, Mage nor a client of a database or a cloud',
        utils_files(DOMAIN),
        (*utils_modules(SINKS + STEPS + MAGE_RUNS), 'mage_ai', 'scripts', *CLOUD_AND_DATABASE_CLIENTS),
    ),
    Contract(
        'the sinks import neither the steps nor Mage',
        utils_files(SINKS),
        (*utils_modules(STEPS + MAGE_RUNS), 'mage_ai', 'scripts'),
    ),
    Contract(
        'utils/ imports neither scripts/ nor the tests',
        ('utils/*.py',),
        ('scripts', 'tests', 'support', 'conftest', 'course_oracle'),
    ),
    Contract(
        "Mage's internals are reached from utils/mage_runs.py and scripts/mage_patches/ only",
        ('utils/*.py', 'scripts/*.py', *(f'{folder}/*.py' for folder in BLOCK_FOLDERS)),
        ('mage_ai',),
        allowed=MAGE_PUBLIC,
        except_files=('utils/mage_runs.py',),
    ),
    Contract(
        "blocks are thin: they import utils/ and Mage's block decorators, not the clients or scripts/",
        tuple(f'{folder}/*.py' for folder in BLOCK_FOLDERS),
        ('scripts', *CLOUD_AND_DATABASE_CLIENTS, 'requests'),
    ),
    Contract('every module of utils/ has its layer', (), ()),  # checked by unlayered() below
)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in the file; `from x import y` gives x.y and x."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f'{node.module}.{alias.name}') for alias in node.names]
    return found


def matches(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + '.') for p in prefixes)


def broken(contract: Contract, root: Path = REPO_ROOT) -> list[str]:
    """'<file>:<line> imports <module>' for each import statement that breaks the contract."""
    found: dict[tuple[str, int], str] = {}
    for pattern in contract.files:
        for path in sorted(root.glob(pattern)):
            relative = path.relative_to(root).as_posix()
            if relative in contract.except_files:
                continue
            for line, module in imported_modules(path):
                if matches(module, contract.forbidden) and not matches(module, contract.allowed):
                    found.setdefault((relative, line), module)  # the statement's module, not each name
    return [f'{file}:{line} imports {module}' for (file, line), module in sorted(found.items())]


def unlayered(root: Path = REPO_ROOT) -> list[str]:
    """The modules of utils/ that no layer lists (a new module must say where it belongs)."""
    layered = set(DOMAIN + SINKS + STEPS + MAGE_RUNS) | {'__init__'}
    return [
        f'utils/{p.stem}.py has no layer in scripts/check_layers.py'
        for p in sorted((root / 'utils').glob('*.py'))
        if p.stem not in layered
    ]


def main() -> int:
    failed = 0
    for contract in CONTRACTS:
        problems = unlayered() if contract.name.startswith('every module') else broken(contract)
        print(f'{"ok  " if not problems else "FAIL"} {contract.name}')
        for problem in problems:
            print(f'       {problem}')
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
