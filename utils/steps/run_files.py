"""A run's work files: its own folder, a disk that fills up named, the folder removed at the end.

    <TAXI_WORK_DIR>/<pipeline>/<what it loads>/run-<Mage run id>
    (cli-<pid> for `mage run` and the editor's kernel: removed when that process ends)

Blocks stream the month through files here (raw.parquet, clean.parquet, rejects.csv), never
through memory; a failed run keeps its folder for Mage's retry of its failed blocks.
"""

from __future__ import annotations

import atexit
import errno
import logging
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from utils.sinks.environment import work_dir

log = logging.getLogger(__name__)

Manifest = dict[str, Any]


class WorkFolderFullError(OSError):
    """The disk under TAXI_WORK_DIR filled up; the message names the folder."""


def run_dir(name: str, variables: Mapping[str, Any]) -> Path:
    """The run's own work folder: <TAXI_WORK_DIR>/<pipeline>/<name>/run-<Mage run id> (a retry of
    the run finds it again), or cli-<pid> for `mage run`; `name` is what the run loads (the
    month's file, e.g. green_tripdata_2020-10). Two runs of one month never share one."""
    run_id = variables.get('pipeline_run_id')
    pipeline_dir = work_dir() / str(variables.get('pipeline_uuid') or 'adhoc')
    if run_id is not None:
        return pipeline_dir / name / f'run-{run_id}'
    folder = pipeline_dir / name / f'cli-{os.getpid()}'
    _remove_folders_of_ended_processes(pipeline_dir)
    if folder not in _REMOVED_AT_EXIT:  # the editor's kernel, `mage run`: nothing retries them later
        _REMOVED_AT_EXIT.add(folder)
        atexit.register(_remove_if_ended, folder)
    return folder


_REMOVED_AT_EXIT: set[Path] = set()


def _remove_if_ended(folder: Path) -> None:
    """At the exit of the process that wrote it (the editor's kernel restarted or stopped, a
    `mage run` ended): a cli-<pid> folder and its month's folder once empty."""
    shutil.rmtree(folder, ignore_errors=True)
    _remove_if_empty(folder.parent)


def _remove_folders_of_ended_processes(pipeline_dir: Path) -> None:
    """The cli-<pid> folders of processes that ended without their exit handlers (killed, or a
    forked child that left through os._exit): removed when the next one starts."""
    for folder in pipeline_dir.glob('*/cli-*'):
        pid = folder.name.removeprefix('cli-')
        if pid.isdigit() and not _running(int(pid)):
            _remove_if_ended(folder)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextmanager
def writing_in(folder: Path) -> Iterator[None]:
    """Name the folder when its disk is full: the OSError of a write names no file. A step that
    fails before it wrote anything (a month the source does not have) leaves no empty folder.

    The steps write to .part files renamed only when complete, so nothing half written stays.
    """
    try:
        yield
    except OSError as e:
        _remove_if_empty(folder)
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise WorkFolderFullError(
            e.errno,
            f'{os.strerror(e.errno)} while writing in {folder}: free some space or set '
            'TAXI_WORK_DIR to a folder on a larger disk; nothing was loaded',
        ) from e
    except BaseException:
        _remove_if_empty(folder)
        raise


def _remove_if_empty(folder: Path) -> None:
    """The run's folder, and its month's and pipeline's folders, when nothing is left in them."""
    root = work_dir().resolve()
    folder = folder.resolve()
    for empty in (folder, folder.parent, folder.parent.parent):
        if empty == root or not empty.is_relative_to(root):
            return
        try:
            empty.rmdir()  # only an empty folder
        except FileNotFoundError:  # gone already (removed with its files, or by another run)
            continue
        except OSError:  # another run's files are in it
            return


def remove_work_files(*manifests: Manifest) -> Manifest:
    """After every export of the run succeeded: remove the run's work folder (a failed run keeps
    it, for a retry), and its month and pipeline folders once empty. Returns the manifests merged."""
    merged: Manifest = {k: v for m in manifests for k, v in m.items()}
    if 'work_dir' not in merged:  # a load skipped as unchanged made no work folder
        return {**merged, 'work_files_removed': None}
    root = work_dir().resolve()
    folder = Path(merged['work_dir']).resolve()
    if not folder.is_relative_to(root) or folder == root:
        raise ValueError(f'{folder} is not a run folder under TAXI_WORK_DIR={root}: not removing it')
    size = sum(f.stat().st_size for f in folder.rglob('*') if f.is_file()) if folder.exists() else 0
    shutil.rmtree(folder, ignore_errors=True)
    _remove_if_empty(folder)
    log.info("removed the run's work files: %s (%.1f MB)", folder, size / 1e6)
    return {**merged, 'work_files_removed': str(folder)}
