"""The editor leaves git status clean and still runs blocks one at a time.

Mage 0.9.80 keeps what a run did to each block (`status: executed`, `failed`, `updated`) inside
pipelines/<uuid>/metadata.yaml, the file that is committed, and its editor reads it back to decide
whether a block's upstream blocks have run ("Block clean_taxi_trips's upstream blocks have not
been executed yet"). That state is this machine's and lives as long as the blocks' outputs do, so
it is kept where Mage keeps those outputs, out of git:

    <Mage's variables dir>/pipelines/<uuid>/block_statuses.yaml     {block uuid: status}

What Pipeline.save writes (pipeline_save_as_committed): the statuses go to that file, and
metadata.yaml gets the committed form (scripts/mage/pipeline_files.py's as_committed: no status,
no machine path). What Pipeline.load_config reads (load_config_with_block_statuses): the committed
file, with the statuses of that file laid over it. `make clean` (or `docker compose down -v`)
removes both the outputs and the statuses; a fresh clone has neither. In the server and in the
editor's kernel (its IPython startup file, written by scripts/mage/start_mage.py, calls
write_pipeline_files_as_committed).

And the editor shows the settings that are not secrets (show_settings_that_are_not_secrets):
Mage hides, in every output the editor shows, each value of the server's environment 8
characters or longer, so the mirror's URL printed by a loader read
`**********************/yellow/yellow_tripdata_2021-01.csv.gz` (and `http://*********:8765/...`
once that setting was shown: POSTGRES_HOST is 127.0.0.1). The settings in SHOWN_SETTINGS name
places, not credentials, and join Mage's own list of values it shows (WHITELISTED_ENV_VARS:
MAGE_DATA_DIR, HOME, ...); every other value, a password or a key's path, stays hidden.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

try:
    from pipeline_files import as_committed  # scripts/mage/ on sys.path (the server, the kernel)
except ImportError:  # imported as scripts.mage.mage_patches (the tests)
    from scripts.mage.pipeline_files import as_committed

STATUSES_FILE = 'block_statuses.yaml'
_mages_safe_write: Any = None  # Mage's own, kept before the patched ones take their place
_mages_safe_write_async: Any = None
_mages_load_config: Any = None


def statuses_path(pipeline_uuid: str) -> Path:
    """Where the block statuses of a pipeline are kept: beside its blocks' outputs."""
    from mage_ai.settings.repo import get_variables_dir

    return Path(get_variables_dir()) / 'pipelines' / pipeline_uuid / STATUSES_FILE


def block_statuses(content: str) -> dict[str, str]:
    """{block uuid: status} of a metadata.yaml as Mage writes it (blocks, callbacks, conditionals)."""
    config = yaml.safe_load(content) or {}
    return {
        str(block['uuid']): str(block['status'])
        for key in ('blocks', 'callbacks', 'conditionals')
        for block in config.get(key) or []
        if isinstance(block, dict) and block.get('uuid') and block.get('status')
    }


def _keep_statuses(path: Any, content: str) -> str:
    """The statuses of a metadata.yaml into their file; the file's committed form returned."""
    if not str(path).endswith('metadata.yaml') or Path(path).parent.parent.name != 'pipelines':
        return content
    target = statuses_path(Path(path).parent.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(f'.{os.getpid()}.tmp')
    temporary.write_text(yaml.safe_dump(block_statuses(content), sort_keys=True))
    temporary.replace(target)  # a reader sees the old statuses or the new, never half
    return as_committed(content)


def pipeline_save_as_committed(path, content, *args, **kwargs):
    """mage_ai's safe_write as the pipeline module calls it: a pipeline's metadata.yaml in the
    committed form, its block statuses kept beside the blocks' outputs."""
    return _mages_safe_write(path, _keep_statuses(path, content), *args, **kwargs)


async def pipeline_save_async_as_committed(path, content, *args, **kwargs):
    """The same for Pipeline.save_async (the editor's saves)."""
    return await _mages_safe_write_async(path, _keep_statuses(path, content), *args, **kwargs)


def load_config_with_block_statuses(self, config, *args, **kwargs):
    """Pipeline.load_config, with the statuses the last save kept laid over the committed file's."""
    path = statuses_path(str(self.uuid)) if isinstance(config, dict) and self.uuid else None
    if path is not None and path.is_file():
        statuses = yaml.safe_load(path.read_text()) or {}
        config = {
            **config,
            **{
                key: [
                    {**b, 'status': statuses[b['uuid']]} if isinstance(b, dict) and b.get('uuid') in statuses else b
                    for b in config.get(key) or []
                ]
                for key in ('blocks', 'callbacks', 'conditionals')
                if config.get(key)
            },
        }
    return _mages_load_config(self, config, *args, **kwargs)


# Settings whose values name places, not credentials, shown in the editor's output (Mage hides
# every other value): the data's addresses, the local services' host and URLs, the work folders
# (Mage shows its own, MAGE_DATA_DIR), the bucket, the dataset, the project
SHOWN_SETTINGS = (
    'NYC_TLC_BASE_URL',
    'TLC_TRIP_DATA_URL',
    'POSTGRES_HOST',
    'GCS_EMULATOR_URL',
    'BIGQUERY_EMULATOR_URL',
    'TAXI_WORK_DIR',
    'LOCAL_DATA_DIR',
    'GCS_BUCKET',
    'BIGQUERY_DATASET',
    'GOOGLE_PROJECT_ID',
)


def show_settings_that_are_not_secrets() -> None:
    """SHOWN_SETTINGS join the settings Mage's filter_out_env_var_values leaves visible (it reads
    WHITELISTED_ENV_VARS at each call, in the server, which filters what the editor is sent)."""
    from mage_ai.shared import security

    security.WHITELISTED_ENV_VARS.update(SHOWN_SETTINGS)


def write_pipeline_files_as_committed() -> None:
    """Pipeline.save (and save_async) write metadata.yaml in the committed form and keep the block
    statuses apart; Pipeline.load_config reads them back. In the server, and in the editor's kernel
    (the process that runs a block in the editor, and saves its pipeline then), whose IPython
    startup file scripts/mage/start_mage.py writes to call this."""
    from mage_ai.data_preparation.models import pipeline

    global _mages_safe_write, _mages_safe_write_async, _mages_load_config
    if pipeline.safe_write is pipeline_save_as_committed:
        return
    _mages_safe_write, _mages_safe_write_async = pipeline.safe_write, pipeline.safe_write_async
    _mages_load_config = pipeline.Pipeline.load_config
    pipeline.safe_write = pipeline_save_as_committed  # Pipeline.save looks it up when it writes
    pipeline.safe_write_async = pipeline_save_async_as_committed
    pipeline.Pipeline.load_config = load_config_with_block_statuses
