"""dbt's documentation of the marts (dbt/taxi_marts): `dbt docs generate` against the PostgreSQL
that `make up` runs (the catalog: every column with the data dictionary's comment), then
`dbt docs serve` on http://127.0.0.1:<DBT_DOCS_PORT> (default 8580), loopback only, until Ctrl-C.
The pages are one self-contained file: nothing is fetched from the internet. Each column shows
its meaning from the data dictionary (the catalog's comments, see describe_columns_from_the_catalog).

    make docs                    generate and serve
    make docs DOCS_ARGS=--generate-only
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from scripts.stack.local_settings import REPO_ROOT, environment

PROJECT = REPO_ROOT / 'dbt' / 'taxi_marts'
DBT = Path(sys.executable).with_name('dbt')


def dbt(*args: str, env: dict[str, str]) -> int:
    cmd = [
        str(DBT),
        *args,
        '--project-dir',
        str(PROJECT),
        '--profiles-dir',
        str(PROJECT),
        '--target',
        'postgres',
        '--target-path',
        'target/docs',
    ]
    return subprocess.call(cmd, env=env, cwd=PROJECT)


def describe_columns_from_the_catalog(target: Path) -> int:
    """The data dictionary onto dbt's pages: a column that core.yml does not describe gets the
    comment the catalog read from PostgreSQL (written from utils/domain/data_dictionary.describe, the one
    copy of the texts), so the pages show it; dbt's pages show yml descriptions only. Returns how
    many columns got one."""
    manifest_path = target / 'manifest.json'
    manifest = json.loads(manifest_path.read_text())
    catalog = json.loads((target / 'catalog.json').read_text())
    filled = 0
    for kind in ('nodes', 'sources'):
        for unique_id, entry in catalog[kind].items():
            node = manifest[kind].get(unique_id)
            if node is None:
                continue
            for name, column in entry['columns'].items():
                known = node['columns'].setdefault(
                    name,
                    {
                        'name': name,
                        'description': '',
                        'meta': {},
                        'data_type': None,
                        'constraints': [],
                        'quote': None,
                        'tags': [],
                    },
                )
                if column.get('comment') and not known.get('description'):
                    known['description'] = column['comment']
                    filled += 1
    manifest_path.write_text(json.dumps(manifest))
    return filled


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--generate-only', action='store_true', help='write the pages, do not serve them')
    args = parser.parse_args()
    env = environment()
    done = dbt('docs', 'generate', env=env)
    if done != 0:
        return done
    print(
        f'[docs] {describe_columns_from_the_catalog(PROJECT / "target" / "docs")} columns described from the '
        'data dictionary',
        flush=True,
    )
    if args.generate_only:
        return 0
    port = env.get('DBT_DOCS_PORT') or '8580'
    print(f"[docs] the marts' lineage and columns on http://127.0.0.1:{port} (Ctrl-C stops)", flush=True)
    try:
        return dbt('docs', 'serve', '--host', '127.0.0.1', '--port', port, '--no-browser', env=env)
    except KeyboardInterrupt:
        return 0


if __name__ == '__main__':
    sys.exit(main())
