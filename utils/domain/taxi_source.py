"""Which month to load, where it lives, and a streaming, retrying download of it."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from utils.domain.progress import PROGRESS_SECONDS, Progress
from utils.domain.taxi_schema import schema_for

log = logging.getLogger(__name__)

GZIP_MAGIC = b'\x1f\x8b'
PARQUET_MAGIC = b'PAR1'
CHUNK_BYTES = 1 << 20


class SourceError(RuntimeError):
    """The source file could not be fetched or read; the message names the URL, and `cause` says
    what went wrong in a few words (`HTTP 404 Not Found`, `not a gzip file`), which a failed run's
    first log line puts first (utils/domain/errors.reason)."""

    def __init__(self, message: str, cause: str | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class MonthRefusedError(ValueError):
    """A month that is not loaded at all (TaxiMonth.refused), said before anything is downloaded."""


SOURCES = ('course', 'tlc')
CLEANING = ('service', 'raw')  # the service's cleaning rules, or every row (the later modules' raw load)


@dataclass(frozen=True)
class TaxiMonth:
    """One month of one service from one release: what a run loads.

    source: `course`, the DataTalksClub CSV.gz copy the course uses (2019-2021), or `tlc`, the
    TLC's own parquet files (every month it has published, the newest about two months old).
    """

    service: str
    year: int
    month: int
    source: str = 'course'
    raw: bool = False  # cleaning=raw: every row of the file, into the service's _raw tables

    @property
    def table_stem(self) -> str:
        """What the month's tables and objects are named after: the service, or <service>_raw
        for a raw load (yellow_raw_taxi_data, yellow_raw_tripdata, nyc_taxi/yellow_raw/...)."""
        return f'{self.service}_raw' if self.raw else self.service

    @classmethod
    def from_vars(cls, variables: Mapping[str, Any], default_source: str = 'course') -> TaxiMonth:
        """Validate the pipeline variables `service`, `year`, `month` (strings or ints) and
        `source` (when not given: default_source, from TAXI_SOURCE at the caller)."""
        service = str(variables.get('service', '')).strip().lower()
        schema_for(service)  # raises on an unknown service
        year = _as_int('year', variables.get('year'), 2009, 2100)
        month = _as_int('month', variables.get('month'), 1, 12)
        source = str(variables.get('source') or default_source).strip().lower()
        if source not in SOURCES:
            raise ValueError(
                f'pipeline variable source={source!r} is not one of {", ".join(SOURCES)} (or set TAXI_SOURCE)'
            )
        cleaning = variables.get('raw')
        if cleaning is None:
            cleaning = str(variables.get('cleaning') or 'service').strip().lower()
            if cleaning not in CLEANING:
                raise ValueError(f'pipeline variable cleaning={cleaning!r} is not one of {", ".join(CLEANING)}')
            cleaning = cleaning == 'raw'
        return cls(service, year, month, source, bool(cleaning))

    @property
    def label(self) -> str:
        """'green 2020-10' (and ' (tlc)' for the TLC's release): how logs and alerts name it."""
        return (
            f'{self.service} {self.year:04d}-{self.month:02d}'
            + ('' if self.source == 'course' else ' (tlc)')
            + (' (raw)' if self.raw else '')
        )

    @property
    def is_parquet(self) -> bool:
        return self.source == 'tlc'

    def published_range(self) -> str:
        """What the month's release has of the service, for a message."""
        releases = schema_for(self.service).releases
        if self.source == 'tlc':
            return f"the TLC's parquet release has {self.service} from {releases.tlc_from} to about two months ago"
        first, last = releases.course
        return (
            f'the course release (DataTalksClub/nyc-tlc-data) has {self.service} {first}..{last}; '
            "source=tlc (or TAXI_SOURCE=tlc) reads the TLC's own files"
        )

    def refused(self) -> str | None:
        """Why the month is not loaded at all, before anything is downloaded: a month its release
        does not have, or one whose layout this project does not read; None for a month it loads."""
        schema = schema_for(self.service)
        releases, month = schema.releases, f'{self.year:04d}-{self.month:02d}'
        loads = (
            f'{self.service} loads from the TLC ({schema.tlc_loads_from} to about two months ago, source=tlc) and '
            f'from the course release ({releases.course[0]}..{releases.course[1]}, source=course)'
        )
        if self.source == 'course' and not releases.course[0] <= month <= releases.course[1]:
            return f'{self.label} is not in the course release: {loads}'
        if self.source == 'tlc' and month < releases.tlc_from:
            return f'{self.label} is not in the TLC release, which starts at {releases.tlc_from}: {loads}'
        refused = releases.tlc_refused
        if self.source == 'tlc' and refused and refused[0] <= month <= refused[1]:
            return (
                f"{self.label} is refused: the TLC's parquet of {self.service} {refused[0]}..{refused[1]} has "
                f'{refused[2]}. {loads}'
            )
        return None

    def after_release(self) -> bool:
        """True when the month is past the last month of a release that publishes no more (the
        course's copy stops in 2021): waiting for it would wait forever."""
        return (
            self.source == 'course'
            and f'{self.year:04d}-{self.month:02d}' > schema_for(self.service).releases.course[1]
        )

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def file_stem(self) -> str:
        return f'{self.service}_tripdata_{self.year:04d}-{self.month:02d}'

    def url(self, base_url: str) -> str:
        """The course's <base>/<service>/<stem>.csv.gz, or the TLC's <base>/<stem>.parquet."""
        if self.is_parquet:
            return f'{base_url.rstrip("/")}/{self.file_stem}.parquet'
        return f'{base_url.rstrip("/")}/{self.service}/{self.file_stem}.csv.gz'

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _as_int(name: str, value: Any, low: int, high: int) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise ValueError(f'pipeline variable {name}={value!r} is not a whole number') from None
    if not low <= number <= high:
        raise ValueError(f'pipeline variable {name}={number} is outside {low}..{high}')
    return number


def _session(retries: int, backoff: float) -> requests.Session:
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({'GET'}),
        raise_on_status=False,
    )
    session = requests.Session()
    session.mount('http://', HTTPAdapter(max_retries=retry))
    session.mount('https://', HTTPAdapter(max_retries=retry))
    return session


def download(
    url: str,
    dest: Path,
    *,
    timeout: float = 60.0,
    retries: int = 3,
    backoff: float = 1.0,
    progress_seconds: float = PROGRESS_SECONDS,
    gzipped: bool = True,
    parquet: bool = False,
    not_found_hint: str = 'check service, year and month',
    identity: dict[str, Any] | None = None,
) -> int:
    """Stream `url` into `dest` (atomically: a .part file renamed at the end); return bytes.

    Retries connection errors and 429/5xx answers with exponential back-off; a 4xx, a
    stalled response (no byte for `timeout` seconds) or, when `gzipped`, a body that is not gzip
    raises SourceError naming the URL, and `dest` is left as it was. `parquet`: the body must
    start as a parquet file does. `identity`, when given, receives the file's `version`
    (version_of), for the audit and the next run's "unchanged?" (utils/steps/taxi_pipeline.py).
    The defaults of timeout, retries, backoff (the factor of the waits between retries) and
    progress_seconds are those of the TAXI_HTTP_* and TAXI_PROGRESS_SECONDS settings, which the
    steps pass in (utils/sinks/environment.download_settings()).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + '.part')
    size = 0
    started = time.perf_counter()
    try:
        with _session(retries, backoff) as session, session.get(url, stream=True, timeout=(10, timeout)) as r:
            if r.status_code != 200:
                hint = f' (no such file: {not_found_hint})' if r.status_code == 404 else ''
                raise SourceError(
                    f'GET {url} answered HTTP {r.status_code} {r.reason}{hint}',
                    cause=f'HTTP {r.status_code} {r.reason}',
                )
            if identity is not None:
                identity['version'] = version_of(r.headers)
            progress = Progress(f'downloading {url}', int(r.headers.get('Content-Length') or 0), progress_seconds)
            with open(part, 'wb') as f:
                for chunk in r.raw.stream(CHUNK_BYTES, decode_content=False):
                    if size == 0 and parquet and not chunk.startswith(PARQUET_MAGIC):
                        raise SourceError(
                            f'{url} is not a parquet file (it starts with {chunk[:16]!r})', cause='not a parquet file'
                        )
                    if size == 0 and gzipped and not parquet and not chunk.startswith(GZIP_MAGIC):
                        raise SourceError(
                            f'{url} is not a gzip file (it starts with {chunk[:16]!r})', cause='not a gzip file'
                        )
                    f.write(chunk)
                    size += len(chunk)
                    progress.add(len(chunk))
        if size == 0:
            raise SourceError(f'{url} is empty', cause='an empty file')
        os.replace(part, dest)
    except (requests.RequestException, urllib3.exceptions.HTTPError) as e:
        raise SourceError(
            f'GET {url} failed: {type(e).__name__}: {e}', cause=f'the download failed ({type(e).__name__})'
        ) from None
    finally:
        part.unlink(missing_ok=True)
    log.info('downloaded %s (%.1f MB in %.2f s)', url, size / 1e6, time.perf_counter() - started)
    return size


def version_of(headers: Mapping[str, str]) -> str:
    """What identifies a published file's version, from its HTTP headers: the ETag when the server
    gives one (GitHub's and the TLC's CloudFront do), else Last-Modified and the size."""
    etag = headers.get('ETag')
    if etag:
        return f'etag {etag}'
    return f'last-modified {headers.get("Last-Modified") or "?"}; bytes {headers.get("Content-Length") or "?"}'


def published_version(url: str, timeout: float = 30) -> str | None:
    """The version (version_of) of the file at `url` by HEAD, following redirects; None when the
    server does not answer 200 (the GET that follows then says why)."""
    try:
        answer = requests.head(url, allow_redirects=True, timeout=(10, timeout))
    except requests.RequestException as e:
        log.info('HEAD %s failed (%s): loading it without comparing versions', url, type(e).__name__)
        return None
    return version_of(answer.headers) if answer.status_code == 200 else None
