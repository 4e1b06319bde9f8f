"""The layers, written down and checked (`make lint`): which code may import which.

    blocks      data_loaders/ transformers/ data_exporters/ custom/ sensors/ charts/: Mage's
                block files, a few lines each over utils/ (and Mage's block decorators)
    utils/      the blocks' shared code, a sub-package per layer (docs/architecture.md):
      domain/      what a taxi month is and how it is read, checked and cleaned; no database,
                   no cloud, no Mage
      sinks/       where months are written (PostgreSQL, GCS, BigQuery) and the clients the
                   environment picks
      steps/       what a run does with a month: its month, files, audit, alerts, marts
      mage_runs.py the one module of utils/ that reads Mage's database or starts its runs
    scripts/    the tools around the project, a folder per role (docs/architecture.md):
      stack/       starting and stopping the local services (PostgreSQL, emulators, mirror, Mage)
      mage/        what reaches into Mage: its start, its REST API, mage_patches/ (the one place
                   that patches Mage), the pipeline files' committed form
      ops/         operating the project: backfills, gcp-setup, the marts' docs, psql
      bench/       the benchmarks and the synthetic months they load
      dev/         the house: the linters, these contracts, the bundled samples

Each contract below is checked on every import statement (top-level or inside a function) of
the project's Python files. Run it alone: `python scripts/dev/check_layers.py`.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BLOCK_FOLDERS = ('data_loaders', 'transformers', 'data_exporters', 'custom', 'sensors', 'charts')

LAYERS = ('domain', 'sinks', 'steps')  # the sub-packages of utils/, in this order (docs/architecture.md)
MAGE_RUNS = 'utils.mage_runs'
# Mage's public API for a project: the block decorators, its io classes, its command line
MAGE_PUBLIC = ('mage_ai.data_preparation.decorators', 'mage_ai.io', 'mage_ai.cli')
CLOUD_AND_DATABASE_CLIENTS = ('psycopg2', 'google.cloud', 'google.auth', 'google.oauth2', 'pgpq')


@dataclass(frozen=True)
class Contract:
    name: str
    files: tuple[str, ...]  # globs, relative to the repository
    forbidden: tuple[str, ...]  # module prefixes
    allowed: tuple[str, ...] = ()  # exceptions to `forbidden` (more specific prefixes)
    except_files: tuple[str, ...] = ()  # relative paths; one ending in / is a folder


CONTRACTS = (
    Contract(
        'the domain imports neither the sinks, the steps, Mage nor a client of a database or a cloud',
        ('utils/domain/*.py',),
        ('utils.sinks', 'utils.steps', MAGE_RUNS, 'mage_ai', 'scripts', *CLOUD_AND_DATABASE_CLIENTS),
    ),
    Contract(
        'the sinks import neither the steps nor Mage',
        ('utils/sinks/*.py',),
        ('utils.steps', MAGE_RUNS, 'mage_ai', 'scripts'),
    ),
    Contract(
        'utils/ imports neither scripts/ nor the tests',
        ('utils/**/*.py',),
        ('scripts', 'tests', 'support', 'conftest', 'course_oracle'),
    ),
    Contract(
        "Mage's internals are reached from utils/mage_runs.py and scripts/mage/mage_patches/ only",
        ('utils/**/*.py', 'scripts/**/*.py', *(f'{folder}/*.py' for folder in BLOCK_FOLDERS)),
        ('mage_ai',),
        allowed=MAGE_PUBLIC,
        except_files=('utils/mage_runs.py', 'scripts/mage/mage_patches/'),
    ),
    Contract(
        "blocks are thin: they import utils/ and Mage's block decorators, not the clients or scripts/",
        tuple(f'{folder}/*.py' for folder in BLOCK_FOLDERS),
        ('scripts', *CLOUD_AND_DATABASE_CLIENTS, 'requests'),
    ),
    Contract(
        'the stack and what reaches into Mage import none of the tools that stand on them (ops, bench, dev)',
        ('scripts/stack/**/*.py', 'scripts/mage/**/*.py'),
        ('scripts.ops', 'scripts.bench', 'scripts.dev', 'tests'),
    ),
    Contract('every module of utils/ has its layer', (), ()),  # checked by unlayered() below
    Contract('utils/ has no import cycle, not even through an import inside a function', (), ()),  # cycles()
    Contract(
        "the domain reads no environment: the sinks' environment.py reads the settings", (), ()
    ),  # environ_reads()
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
            if any(relative == e or (e.endswith('/') and relative.startswith(e)) for e in contract.except_files):
                continue
            for line, module in imported_modules(path):
                if matches(module, contract.forbidden) and not matches(module, contract.allowed):
                    found.setdefault((relative, line), module)  # the statement's module, not each name
    return [f'{file}:{line} imports {module}' for (file, line), module in sorted(found.items())]


def unlayered(root: Path = REPO_ROOT) -> list[str]:
    """The modules of utils/ outside its layers' sub-packages (a new module must say where it
    belongs), and sub-packages that are not a layer."""
    loose = [p for p in sorted((root / 'utils').glob('*.py')) if p.stem not in ('__init__', 'mage_runs')]
    folders = [p for p in sorted((root / 'utils').iterdir()) if p.is_dir() and p.name not in (*LAYERS, '__pycache__')]
    return [f'utils/{p.name} has no layer: put it in utils/{"|".join(LAYERS)}/' for p in loose + folders]


def module_of(path: Path, root: Path = REPO_ROOT) -> str:
    return '.'.join(path.relative_to(root).with_suffix('').parts).removesuffix('.__init__')


def cycles(root: Path = REPO_ROOT) -> list[str]:
    """'a -> b -> a' for each circle of imports among utils/'s modules (each found once, from its
    least module): a module's imports inside functions count, as they run all the same."""
    modules = {module_of(p, root): p for p in sorted((root / 'utils').rglob('*.py'))}
    graph = {
        name: sorted({m for _, m in imported_modules(path) if m in modules and m != name})
        for name, path in modules.items()
    }
    found = []
    for start in sorted(graph):
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    found.append(' -> '.join([*path, start]))
                elif nxt > start and nxt not in path:
                    stack.append((nxt, [*path, nxt]))
    return sorted(set(found))


def environ_reads(root: Path = REPO_ROOT) -> list[str]:
    """'<file>:<line> reads the environment' for os.environ, os.getenv (or either imported from os)
    in utils/domain/."""
    found = []
    for path in sorted((root / 'utils' / 'domain').glob('*.py')):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            named = (
                isinstance(node, ast.Attribute)
                and node.attr in ('environ', 'getenv', 'environb', 'getenvb')
                and isinstance(node.value, ast.Name)
                and node.value.id == 'os'
            ) or (
                isinstance(node, ast.ImportFrom)
                and node.module == 'os'
                and any(a.name in ('environ', 'getenv', 'environb', 'getenvb') for a in node.names)
            )
            if named:
                line = getattr(node, 'lineno', 0)
                found.append(f'{path.relative_to(root).as_posix()}:{line} reads the environment')
    return found


def problems_of(contract: Contract) -> list[str]:
    if contract.name.startswith('every module'):
        return unlayered()
    if contract.name.startswith('utils/ has no import cycle'):
        return cycles()
    if contract.name.startswith('the domain reads no environment'):
        return environ_reads()
    return broken(contract)


def main() -> int:
    failed = 0
    for contract in CONTRACTS:
        problems = problems_of(contract)
        print(f'{"ok  " if not problems else "FAIL"} {contract.name}')
        for problem in problems:
            print(f'       {problem}')
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
