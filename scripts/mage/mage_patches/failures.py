"""A failed block says why first (applied by apply() in __init__.py): Block.execute_block, on an
exception, hands it to utils/steps/failures.py (the reason as the block's first ERROR log record,
on the alert, in load_audit) before Mage's retry logs "Exception thrown when attempting to run
<function …>" and its traceback. dbt's own lines reach a run's log at WARNING at most, so a dbt
block's first ERROR record is that reason too: which test or model failed and what dbt said.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

# Mage's own functions, kept by apply() before it puts these in their place
_mages_execute_block: Any = None
_mages_dbt_log: Any = None


def execute_block_saying_why(self, *args, **kwargs):
    """Mage's Block.execute_block; when it raises in a run (not the editor), the reason first."""
    started = datetime.now(timezone.utc)
    try:
        return _mages_execute_block(self, *args, **kwargs)
    except Exception as error:
        logger = kwargs.get('logger')
        if logger is not None and not kwargs.get('from_notebook'):
            try:
                from utils.steps.failures import block_failed, dbt_reason, dbt_target_dir

                dbt_text = None
                if getattr(self.type, 'value', self.type) == 'dbt':
                    project = Path(self.repo_path or '.') / (self.configuration or {}).get('dbt_project_name', '')
                    dbt_text = dbt_reason(dbt_target_dir(project, self.content), started)
                tags = kwargs.get('logging_tags') or {}
                block_failed(
                    self.uuid, error, kwargs.get('global_vars') or {}, lambda line: logger.error(line, **tags), dbt_text
                )
            except Exception as e:  # noqa: BLE001 - Mage's own report of the error stands
                print(f'[mage_patches] could not say why {self.uuid} failed: {type(e).__name__}: {e}', file=sys.stderr)
        raise


def dbt_log_at_most_warning(self, log_level, message: str, tags=None) -> None:
    """Mage's DBTCli.__log, with dbt's error lines logged as warnings (still shown, in yellow)."""
    level = getattr(log_level, 'value', log_level)
    return _mages_dbt_log(self, 'warning' if str(level).lower() == 'error' else log_level, message, tags)


def apply() -> None:
    from mage_ai.data_preparation.models.block import Block
    from mage_ai.data_preparation.models.block.dbt.dbt_cli import DBTCli

    global _mages_execute_block, _mages_dbt_log
    _mages_execute_block = Block.execute_block
    Block.execute_block = execute_block_saying_why
    _mages_dbt_log = DBTCli._DBTCli__log
    DBTCli._DBTCli__log = dbt_log_at_most_warning
