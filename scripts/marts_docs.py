"""dbt's documentation of the marts (dbt/taxi_marts): `dbt docs generate` against the PostgreSQL
that `make up` runs (the catalog: every column with the data dictionary's comment), then
`dbt docs serve` on http://127.0.0.1:<DBT_DOCS_PORT> (default 8580), loopback only, until Ctrl-C.
The pages are one self-contained file: nothing is fetched from the internet.
(Not named dbt_*: dbt imports every top-level module named so, looking for plugins, and this
folder is on sys.path when Mage runs from scripts/start_mage.py.)

    make docs                    generate and serve
    make docs DOCS_ARGS=--generate-only
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_local import REPO_ROOT, environment  # noqa: E402  (beside this script)

PROJECT = REPO_ROOT / 'dbt' / 'taxi_marts'
DBT = Path(sys.executable).with_name('dbt')


def dbt(*args: str, env: dict[str, str]) -> int:
    cmd = [str(DBT), *args, '--project-dir', str(PROJECT), '--profiles-dir', str(PROJECT),
           '--target', 'postgres', '--target-path', 'target/docs']
    return subprocess.call(cmd, env=env, cwd=PROJECT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--generate-only', action='store_true', help='write the pages, do not serve them')
    args = parser.parse_args()
    env = environment()
    done = dbt('docs', 'generate', env=env)
    if done != 0 or args.generate_only:
        return done
    port = env.get('DBT_DOCS_PORT') or '8580'
    print(f'[docs] the marts\' lineage and columns on http://127.0.0.1:{port} (Ctrl-C stops)', flush=True)
    try:
        return dbt('docs', 'serve', '--host', '127.0.0.1', '--port', port, '--no-browser', env=env)
    except KeyboardInterrupt:
        return 0


if __name__ == '__main__':
    sys.exit(main())
