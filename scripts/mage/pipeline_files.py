"""pipelines/*/metadata.yaml as git keeps them, and as the Mage server writes them back.

Mage 0.9.80's editor saves a pipeline's metadata.yaml whenever a block runs or the pipeline is
saved: yaml.dump of every key (its "long form": defaults included, keys sorted, comments gone),
each block's `status` (executed, failed, updated) and `all_upstream_blocks_executed`, and a
`variables_dir:` holding this machine's absolute path (Mage's data folder). Left alone, that is a
change in `git status` after every click, and a machine path a student's `git add .` commits.

So the committed files are in Mage's long form already (explanations live in docs/pipelines.md
and the blocks' docstrings, where Mage's rewriting cannot drop them), with every block not
executed and no variables_dir; and scripts/mage/mage_patches/ has the server write them in that
form (`as_committed`, applied to what Pipeline.save writes). Opening, running and saving a
pipeline then leaves the file byte for byte as committed. The block statuses the editor reads are
kept beside the blocks' outputs in Mage's data folder (scripts/mage/mage_patches/editor.py).

Why not a git clean filter: git decides a file changed from its size before it runs any filter
(read-cache.c, ie_modified), so `git status` would still list the file after each run whose
statuses changed the size; and the course's Docker users never run the `make` that would set
the filter up. The server is where both paths meet (scripts/mage/start_mage.py).

    python scripts/mage/pipeline_files.py --check      every pipeline file as committed? (tested)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PIPELINES = Path(__file__).resolve().parents[2] / 'pipelines'
TOP_LEVEL_KEY = re.compile(r'^[a-z_]+:', re.M)


def as_committed(text: str) -> str:
    """A pipeline file as Mage wrote it, without what a run changes: no variables_dir line,
    every block not executed (all_upstream_blocks_executed true for the roots only, as Mage
    writes it when nothing has run)."""
    text = re.sub(r'^variables_dir: .*\n', '', text, flags=re.M)
    head, found, rest = text.partition('blocks:\n')
    if not found:
        return text
    end = TOP_LEVEL_KEY.search(rest)
    blocks, tail = (rest[: end.start()], rest[end.start() :]) if end else (rest, '')
    items = re.split(r'(?m)^(?=- )', blocks)
    return head + found + ''.join(_not_executed(item) for item in items) + tail


def _not_executed(block: str) -> str:
    if not block.startswith('- '):
        return block
    root = re.search(r'^  upstream_blocks: \[\]$', block, re.M) is not None
    block = re.sub(r'^(- |  )status: \S+$', r'\1status: not_executed', block, flags=re.M)
    return re.sub(
        r'^(- |  )all_upstream_blocks_executed: \S+$',
        rf'\1all_upstream_blocks_executed: {"true" if root else "false"}',
        block,
        flags=re.M,
    )


def not_as_committed() -> list[str]:
    """The pipeline files that are not in the committed form."""
    return [
        str(p.relative_to(PIPELINES.parent))
        for p in sorted(PIPELINES.glob('*/metadata.yaml'))
        if as_committed(p.read_text()) != p.read_text()
    ]


if __name__ == '__main__':
    if sys.argv[1:] == ['--check']:
        wrong = not_as_committed()
        print('\n'.join(wrong) or 'every pipeline file is as committed')
        sys.exit(1 if wrong else 0)
    sys.stdout.write(as_committed(sys.stdin.read()))
