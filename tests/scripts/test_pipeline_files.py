"""The pipeline files are committed in the form Mage's editor writes them back
(scripts/mage/pipeline_files.py): Mage's own Pipeline.save, run on a copy of the project with every
block marked executed, writes each file so that, without the run's statuses and this machine's
variables_dir, it is byte for byte the committed one."""

import shutil
import subprocess
import sys

from scripts.mage.pipeline_files import PIPELINES, as_committed, not_as_committed

SAVE_EVERY_PIPELINE = """
import sys
from mage_ai.settings.repo import set_repo_path
set_repo_path(sys.argv[1])
from mage_ai.data_preparation.models.pipeline import Pipeline
for uuid in sys.argv[2:]:
    pipeline = Pipeline.get(uuid, repo_path=sys.argv[1])
    for block in pipeline.blocks_by_uuid.values():
        block.status = 'executed'  # as after Run block in the editor
    pipeline.save()
"""


def test_every_committed_pipeline_file_is_in_the_committed_form():
    assert not_as_committed() == []


def test_mage_s_own_save_writes_the_committed_files_back(tmp_path):
    project = tmp_path / 'project'
    shutil.copytree(
        PIPELINES.parent,
        project,
        ignore=shutil.ignore_patterns('.venv*', '.data', '.git', 'samples', '.artifacts', 'target'),
    )
    uuids = sorted(p.parent.name for p in PIPELINES.glob('*/metadata.yaml'))
    done = subprocess.run(
        [sys.executable, '-c', SAVE_EVERY_PIPELINE, str(project), *uuids],
        capture_output=True,
        text=True,
        timeout=300,
        env={'MAGE_DATA_DIR': str(tmp_path / 'mage_data'), 'PATH': '/usr/bin'},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for uuid in uuids:
        saved = (project / 'pipelines' / uuid / 'metadata.yaml').read_text()
        assert 'status: executed' in saved and f'variables_dir: {tmp_path}' in saved  # what the editor leaves
        assert as_committed(saved) == (PIPELINES / uuid / 'metadata.yaml').read_text(), uuid


EDITOR_STEP = """
import sys
from mage_ai.settings.repo import set_repo_path
project, step = sys.argv[1], sys.argv[2]
set_repo_path(project)
from scripts.mage.mage_patches.editor import write_pipeline_files_as_committed
write_pipeline_files_as_committed()  # as in the server and the editor's kernel
from mage_ai.data_preparation.models.block import Block
from mage_ai.data_preparation.models.pipeline import Pipeline
if step == 'new pipeline':  # New > Standard (batch), a Python loader, a transformer below it
    pipeline = Pipeline.create('course_step', repo_path=project)
    loader = Block.create('load_numbers', 'data_loader', project, pipeline=pipeline, language='python')
    loader.update_content(
        "import pandas as pd\\n@data_loader\\ndef load(*args, **kwargs):\\n    return pd.DataFrame({'n': [1, 2, 3]})\\n"
    )
    doubler = Block.create(
        'double_numbers', 'transformer', project, pipeline=pipeline, language='python',
        upstream_block_uuids=['load_numbers'],
    )
    doubler.update_content('@transformer\\ndef double(df, *args, **kwargs):\\n    return df * 2\\n')
else:  # the editor's Run block: this block only, in a kernel that read the pipeline afresh
    block = Pipeline.get('course_step', repo_path=project).get_block(step)
    result = block.execute_with_callback(run_all_blocks=False, update_status=True, global_vars={})
    print(step, block.status, result['output'][0]['n'].tolist())
"""


def test_the_editor_runs_one_block_at_a_time_and_git_stays_clean(tmp_path):
    """Mage's own Block.execute_with_callback as the editor's Run block calls it (run_all_blocks
    off), each step in a process of its own: the loader, then the transformer alone. The
    transformer finds its upstream block executed (the status kept in Mage's data folder, not in
    the committed file), and git sees only the new pipeline's files. Without the kept statuses,
    Mage refuses it as it did before: "upstream blocks have not been executed yet"."""
    project, data = tmp_path / 'project', tmp_path / 'mage_data'
    shutil.copytree(
        PIPELINES.parent,
        project,
        ignore=shutil.ignore_patterns('.venv*', '.data', '.git', 'samples', '.artifacts', 'target', 'tests'),
    )
    git = ['git', '-c', 'user.name=test', '-c', 'user.email=test@localhost']
    for args in (['init', '-q'], ['add', '-A'], ['commit', '-q', '-m', 'a clone']):
        subprocess.run([*git, *args], cwd=project, check=True, capture_output=True)

    def step(name: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, '-c', EDITOR_STEP, str(project), name],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=project,
            env={'MAGE_DATA_DIR': str(data), 'PATH': '/usr/bin', 'PYTHONPATH': str(project)},
        )

    assert step('new pipeline').returncode == 0
    for block, output in (('load_numbers', '[1, 2, 3]'), ('double_numbers', '[2, 4, 6]')):
        done = step(block)
        assert done.returncode == 0, done.stderr[-3000:]
        assert f'{block} executed {output}' in done.stdout, done.stdout
    committed = (project / 'pipelines' / 'course_step' / 'metadata.yaml').read_text()
    assert committed == as_committed(committed) and 'status: executed' not in committed
    (statuses,) = data.rglob('block_statuses.yaml')
    assert statuses.read_text() == 'double_numbers: executed\nload_numbers: executed\n'
    status = subprocess.run(['git', 'status', '--porcelain'], cwd=project, capture_output=True, text=True).stdout
    assert sorted(status.splitlines()) == [
        '?? data_loaders/load_numbers.py',
        '?? pipelines/course_step/',
        '?? transformers/double_numbers.py',
    ]

    statuses.unlink()  # what the committed file alone says: Mage's refusal
    refused = step('double_numbers')
    assert refused.returncode != 0
    assert "upstream blocks have not been executed yet. Please run upstream blocks ['load_numbers']" in refused.stderr
