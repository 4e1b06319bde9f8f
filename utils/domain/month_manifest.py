"""The manifest: what a month pipeline's blocks hand each other about their month, typed.

The rows stream file -> file -> database; the blocks pass only this: the month (a TaxiMonth),
the work files, the counts, where the month went. Mage keeps a block's output as JSON between
blocks, so at that edge it is a flat dict (the month's variables and every field that is set,
as the audit, the dashboards and the inline tests read it): a step reads its input once with
MonthManifest.of(...) and returns .to_output(). In between, code reads `manifest.month`,
`manifest.clean_path`, ... and mypy checks them.

    read the file       url, bytes, source_version, raw_path, rows, rows_rejected, rejects_path,
                        work_dir (extract_month, fetch_month)
    skipped unchanged   unchanged, unchanged_since_run, rows_out (utils/steps/unchanged.py)
    cleaned             cleaning, clean_path, rows_in, rows_out, dropped, rows_without_zones
                        (clean_month)
    loaded              table | gcs_uri | partition_objects, rows_by_pickup_date | bigquery_table,
                        rows_loaded (the exporters)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from utils.domain.taxi_source import TaxiMonth

_MONTH_KEYS = frozenset(f.name for f in fields(TaxiMonth))


@dataclass(frozen=True)
class MonthManifest:
    month: TaxiMonth
    work_dir: str | None = None  # the run's work folder (utils/steps/run_files.py)
    # the file read
    url: str | None = None
    bytes: int | None = None
    source_version: str | None = None  # its ETag, or Last-Modified and size (utils/steps/unchanged.py)
    raw_path: str | None = None
    rows: int | None = None  # rows read from the file
    rows_rejected: int | None = None  # malformed CSV rows, kept aside in rejects_path
    rejects_path: str | None = None
    # a month skipped because its file has not changed since the last completed load of it
    unchanged: bool = False
    unchanged_since_run: int | None = None
    # the cleaning
    cleaning: str | None = None  # 'service' (its rules) or 'raw' (every row)
    clean_path: str | None = None
    rows_in: int | None = None
    rows_out: int | None = None  # rows kept (or, unchanged, the rows the last load kept)
    dropped: dict[str, int] | None = None  # rows dropped, per cleaning rule
    rows_without_zones: int | None = None  # rows kept with a pickup or dropoff zone missing or Unknown
    # where the month went
    table: str | None = None
    gcs_uri: str | None = None
    partition_objects: list[str] | None = None
    rows_by_pickup_date: dict[str, int] | None = None
    bigquery_table: str | None = None
    rows_loaded: int | None = None
    other: Mapping[str, Any] = field(default_factory=dict)  # keys of the dict this class does not name, kept

    @classmethod
    def of(cls, output: Mapping[str, Any] | list[Any] | MonthManifest) -> MonthManifest:
        """The manifest in a block's input: the dict Mage stored, or the loader's two outputs in the
        editor (the manifest and its first rows, utils/steps/taxi_pipeline.loader_output). The
        month is checked as the pipeline variables are (TaxiMonth.from_vars)."""
        if isinstance(output, MonthManifest):
            return output
        values: Mapping[str, Any] = output[0] if isinstance(output, list) else output
        named = {f.name for f in fields(cls)} - {'month', 'other'}
        return cls(
            TaxiMonth.from_vars(values),
            **{k: v for k, v in values.items() if k in named},
            other={k: v for k, v in values.items() if k not in named and k not in _MONTH_KEYS},
        )

    def required(self, name: str) -> str:
        """A path or URI a step needs (clean_path, gcs_uri, ...), or an error that names it when
        the block before did not set it."""
        value = getattr(self, name)
        if not value:
            raise ValueError(
                f'the manifest of {self.month.label} has no {name}: the block before this one did not write it '
                "(is the pipeline's DAG as committed?)"
            )
        return str(value)

    def path(self, name: str) -> Path:
        return Path(self.required(name))

    def but(self, **changes: Any) -> MonthManifest:
        """A copy with these fields changed (the manifest a step hands on)."""
        return replace(self, **changes)

    def to_output(self) -> dict[str, Any]:
        """The JSON-able dict a block returns: the month's variables, the keys kept in `other`,
        then every field that is set."""
        output = {**self.month.to_dict(), **self.other}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name not in ('month', 'other') and value is not None and value is not False:
                output[f.name] = value
        return output
