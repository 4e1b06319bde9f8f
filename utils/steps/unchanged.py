"""Only what changed is loaded again: a month whose source file has not changed since the
pipeline's last completed load of it is skipped, with one log line and an audit row.

    the loader (api_to_postgres, api_to_gcs)   HEADs the month's URL: its version is the ETag
                                               (GitHub's and the TLC's servers give one), else
                                               Last-Modified and the size
    load_audit                                 holds the version each load read (source_version)
    the same URL and version as the last       nothing is downloaded; every step after it checks
    completed run of the pipeline for the      that its target still holds what that run loaded
    month (Mage's run status: completed)       (a target changed behind the pipeline's back
                                               fails, saying to load with force=true)

Who skips (utils/steps/run_month.skips_unchanged): the runs of a backfill or a schedule; a run a
person starts loads what it is asked, as does any run with force=true (force=false skips there
too). A republished file (a new ETag, or a new date or size) is loaded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from utils.domain.month_manifest import MonthManifest
from utils.domain.taxi_source import TaxiMonth, published_version
from utils.steps import audit
from utils.steps.run_month import run_completed, skips_unchanged

log = logging.getLogger(__name__)


def unchanged_month(month: TaxiMonth, url: str, variables: Mapping[str, Any], block: str) -> MonthManifest | None:
    """The manifest of a skipped load when the month's file is the one the pipeline's last
    completed run loaded, else None (load it)."""
    if not skips_unchanged(variables) or not variables.get('pipeline_uuid'):
        return None
    version = published_version(url)
    if version is None:
        return None
    for last in audit.last_loads(str(variables['pipeline_uuid']), month.service, month.first_day, block):
        if last.raw != month.raw or not run_completed(last.run_id):
            continue  # a load into the other tables (raw or not), or a run that failed later on
        if (last.source_url, last.source_version) != (url, version) or last.rows_kept is None:
            return None  # the last completed load read another file, or another version of it
        manifest = MonthManifest(
            month,
            url=url,
            source_version=version,
            unchanged=True,
            unchanged_since_run=last.run_id,
            rows_out=last.rows_kept,
        )
        audit.record_skip(variables, block, month.first_day, manifest.to_output())
        log.info(
            '%s: %s unchanged since run %s loaded it (%s, %s rows kept): nothing to load; force=true loads it again',
            block,
            month.label,
            last.run_id,
            version,
            f'{last.rows_kept:,}',
        )
        return manifest
    return None


class TargetChangedError(RuntimeError):
    """The source is unchanged but the target no longer holds what the last load wrote."""


def check_target(manifest: MonthManifest, target: str, rows_there: int) -> MonthManifest:
    """A skipped load's step: the target must still hold the rows the last load wrote."""
    expected = manifest.rows_out or 0
    if rows_there != expected:
        raise TargetChangedError(
            f'{target} holds {rows_there:,} rows of {manifest.month.label} where run '
            f'{manifest.unchanged_since_run} loaded {expected:,}, and the source has not changed since: '
            'load the month again with the pipeline variable force=true'
        )
    log.info('%s: still holds the %s rows of run %s', target, f'{rows_there:,}', manifest.unchanged_since_run)
    return manifest.but(rows_loaded=rows_there)
