"""Remove the run's work files (raw.parquet, clean.parquet, rejects.csv) once every export
succeeded. A run that failed never gets here: its files stay for the retry, and its error names
them. A backfill of a year therefore leaves no year of parquet behind.
"""

import os

from utils.steps.run_files import remove_work_files as remove_run_work_files

if 'custom' not in globals():
    from mage_ai.data_preparation.decorators import custom
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@custom
def remove_work_files(*manifests, **kwargs) -> dict:
    return remove_run_work_files(*manifests)


@test
def test_the_run_folder_is_gone(manifest: dict, *args) -> None:
    if manifest['work_files_removed']:  # None: a load skipped as unchanged made no folder
        assert not os.path.exists(manifest['work_files_removed']), manifest['work_files_removed']
