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
