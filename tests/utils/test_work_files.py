"""remove_work_files: a run's folder goes, and its month and pipeline folders once empty; another
run's files stay; runs of one pipeline ending at the same moment never trip over each other."""

import re
import threading
from pathlib import Path

import pytest

from utils.steps.run_files import remove_work_files


def run_folder(root, pipeline, month, run):
    folder = root / pipeline / month / f'run-{run}'
    folder.mkdir(parents=True)
    (folder / 'clean.parquet').write_bytes(b'x' * 100)
    return folder


def test_the_run_folder_and_its_empty_parents_go(tmp_path, monkeypatch):
    monkeypatch.setenv('TAXI_WORK_DIR', str(tmp_path))
    folder = run_folder(tmp_path, 'api_to_postgres', 'green_tripdata_2020-10', 1)
    other = run_folder(tmp_path, 'api_to_postgres', 'green_tripdata_2020-11', 2)
    assert remove_work_files({'work_dir': str(folder), 'rows_out': 5})['rows_out'] == 5
    assert not folder.parent.exists() and other.exists()  # the other month's run is untouched
    remove_work_files({'work_dir': str(other)})
    assert list(tmp_path.iterdir()) == []  # the pipeline folder went with its last run


def test_a_folder_outside_the_work_dir_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv('TAXI_WORK_DIR', str(tmp_path / 'work'))
    with pytest.raises(ValueError, match='is not a run folder under TAXI_WORK_DIR'):
        remove_work_files({'work_dir': str(tmp_path)})


def test_runs_of_one_pipeline_ending_together(tmp_path, monkeypatch):
    """Two months of a backfill end at once (seen: the second failed with FileNotFoundError when
    the first removed the shared pipeline folder between its checks). 30 rounds, two threads."""
    monkeypatch.setenv('TAXI_WORK_DIR', str(tmp_path))
    errors = []
    for round_ in range(30):
        folders = [run_folder(tmp_path, 'api_to_gcs', f'yellow_tripdata_2019-0{m}', round_ * 10 + m) for m in (1, 2)]
        start = threading.Barrier(2)

        def remove(folder, start=start):
            start.wait()
            try:
                remove_work_files({'work_dir': str(folder)})
            except Exception as e:  # noqa: BLE001 - the assertion below names it
                errors.append(e)

        threads = [threading.Thread(target=remove, args=(f,)) for f in folders]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == [] and list(tmp_path.iterdir()) == []


def test_a_step_failing_before_it_wrote_leaves_no_empty_folder(tmp_path, monkeypatch):
    """A month the source does not have fails before a byte is written: no empty run-<id> folder
    stays behind (nor its month's and pipeline's); a failure with files keeps them for the retry."""
    from utils.steps.run_files import writing_in

    monkeypatch.setenv('TAXI_WORK_DIR', str(tmp_path))
    empty = tmp_path / 'api_to_postgres' / 'yellow_tripdata_2021-05' / 'run-7'
    with pytest.raises(LookupError), writing_in(empty):
        empty.mkdir(parents=True)
        raise LookupError('HTTP 404')
    assert list(tmp_path.iterdir()) == []
    kept = run_folder(tmp_path, 'api_to_postgres', 'green_tripdata_2020-10', 8)
    with pytest.raises(OSError), writing_in(kept):
        raise OSError('the database went away')
    assert (kept / 'clean.parquet').exists()


WRITE_A_CLI_FOLDER = """
import os, sys
from utils.steps.run_files import run_dir
folder = run_dir('yellow_tripdata_2021-01', {'pipeline_uuid': 'api_to_postgres'})
folder.mkdir(parents=True)
(folder / 'raw.parquet').write_bytes(b'x')
print(folder, flush=True)
if sys.argv[1] == 'killed':
    os.kill(os.getpid(), 9)
"""


def test_an_editor_or_cli_folder_goes_when_its_process_ends(tmp_path):
    """The editor's kernel and `mage run` have no run id: their cli-<pid> folder (which the next
    block of the editor reads) goes when the process exits; one whose process was killed goes
    when the next cli folder is made. Real processes, real exits."""
    import os
    import subprocess
    import sys

    from utils.sinks.environment import REPO_ROOT

    env = {**os.environ, 'TAXI_WORK_DIR': str(tmp_path), 'PYTHONPATH': str(REPO_ROOT)}

    def write(how: str) -> tuple[subprocess.CompletedProcess, str]:
        done = subprocess.run([sys.executable, '-c', WRITE_A_CLI_FOLDER, how], env=env, capture_output=True, text=True)
        return done, done.stdout.strip()

    done, folder = write('exits')
    assert done.returncode == 0, done.stderr
    assert re.search(r'/api_to_postgres/yellow_tripdata_2021-01/cli-\d+$', folder), folder
    assert list(tmp_path.iterdir()) == []  # its month's and pipeline's folders went with it
    killed, folder = write('killed')
    assert killed.returncode == -9 and (Path(folder) / 'raw.parquet').exists()  # no exit handler ran
    done, _ = write('exits')
    assert done.returncode == 0, done.stderr
    assert list(tmp_path.iterdir()) == []  # the killed process's folder went when the next one was made
