"""The editor leaves git status clean: what Pipeline.save writes to pipelines/*/metadata.yaml goes
through scripts/mage/pipeline_files.py's as_committed (no block status, no machine path), the form the
files are committed in. In the server and in the editor's kernel (its IPython startup file,
written by scripts/mage/start_mage.py, calls write_pipeline_files_as_committed).
"""

from __future__ import annotations

from typing import Any

try:
    from pipeline_files import as_committed  # scripts/mage/ on sys.path (the server, the kernel)
except ImportError:  # imported as scripts.mage.mage_patches (the tests)
    from scripts.mage.pipeline_files import as_committed

_mages_safe_write: Any = None  # Mage's own, kept before the patched ones take their place
_mages_safe_write_async: Any = None


def pipeline_save_as_committed(path, content, *args, **kwargs):
    """mage_ai's safe_write as the pipeline module calls it; a pipeline's metadata.yaml in the
    committed form."""
    if str(path).endswith('metadata.yaml'):
        content = as_committed(content)
    return _mages_safe_write(path, content, *args, **kwargs)


async def pipeline_save_async_as_committed(path, content, *args, **kwargs):
    """The same for Pipeline.save_async (the editor's saves)."""
    if str(path).endswith('metadata.yaml'):
        content = as_committed(content)
    return await _mages_safe_write_async(path, content, *args, **kwargs)


def write_pipeline_files_as_committed() -> None:
    """Pipeline.save (and save_async) write metadata.yaml in the committed form: in the server,
    and in the editor's kernel (the process that runs a block in the editor, and saves its
    pipeline then), whose IPython startup file scripts/mage/start_mage.py writes to call this."""
    from mage_ai.data_preparation.models import pipeline

    global _mages_safe_write, _mages_safe_write_async
    if pipeline.safe_write is pipeline_save_as_committed:
        return
    _mages_safe_write, _mages_safe_write_async = pipeline.safe_write, pipeline.safe_write_async
    pipeline.safe_write = pipeline_save_as_committed  # Pipeline.save looks it up when it writes
    pipeline.safe_write_async = pipeline_save_async_as_committed
