"""Which month to load, where it lives, and a streaming, retrying download of it."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any, Mapping

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from utils.progress import Progress
from utils.taxi_schema import schema_for

log = logging.getLogger(__name__)

GZIP_MAGIC = b'\x1f\x8b'
CHUNK_BYTES = 1 << 20


class SourceError(RuntimeError):
    """The source file could not be fetched or read; the message names the URL."""


@dataclass(frozen=True)
class TaxiMonth:
    service: str
    year: int
    month: int

    @classmethod
    def from_vars(cls, variables: Mapping[str, Any]) -> 'TaxiMonth':
        """Validate the pipeline variables `service`, `year`, `month` (strings or ints)."""
        service = str(variables.get('service', '')).strip().lower()
        schema_for(service)  # raises on an unknown service
        year = _as_int('year', variables.get('year'), 2009, 2100)
        month = _as_int('month', variables.get('month'), 1, 12)
        return cls(service, year, month)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def file_stem(self) -> str:
        return f'{self.service}_tripdata_{self.year:04d}-{self.month:02d}'

    def url(self, base_url: str) -> str:
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


def _session(retries: int) -> requests.Session:
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=float(os.environ.get('TAXI_HTTP_BACKOFF', '1')),
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
    timeout: float | None = None,
    retries: int | None = None,
    gzipped: bool = True,
) -> int:
    """Stream `url` into `dest` (atomically: a .part file renamed at the end); return bytes.

    Retries connection errors and 429/5xx answers with exponential back-off; a 4xx, a
    stalled response (no byte for `timeout` seconds) or, when `gzipped`, a body that is not gzip
    raises SourceError naming the URL, and `dest` is left as it was.
    """
    timeout = float(os.environ.get('TAXI_HTTP_TIMEOUT', '60')) if timeout is None else timeout
    retries = int(os.environ.get('TAXI_HTTP_RETRIES', '3')) if retries is None else retries
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + '.part')
    size = 0
    started = time.perf_counter()
    try:
        with _session(retries) as session, session.get(url, stream=True, timeout=(10, timeout)) as r:
            if r.status_code != 200:
                hint = ' (no such file: check service, year and month)' if r.status_code == 404 else ''
                raise SourceError(f'GET {url} answered HTTP {r.status_code} {r.reason}{hint}')
            progress = Progress(f'downloading {url}', int(r.headers.get('Content-Length') or 0))
            with open(part, 'wb') as f:
                for chunk in r.raw.stream(CHUNK_BYTES, decode_content=False):
                    if gzipped and size == 0 and not chunk.startswith(GZIP_MAGIC):
                        raise SourceError(f'{url} is not a gzip file (it starts with {chunk[:16]!r})')
                    f.write(chunk)
                    size += len(chunk)
                    progress.add(len(chunk))
        if size == 0:
            raise SourceError(f'{url} is empty')
        os.replace(part, dest)
    except (requests.RequestException, urllib3.exceptions.HTTPError) as e:
        raise SourceError(f'GET {url} failed: {type(e).__name__}: {e}') from None
    finally:
        part.unlink(missing_ok=True)
    log.info('downloaded %s (%.1f MB in %.2f s)', url, size / 1e6, time.perf_counter() - started)
    return size
