"""The taxi zone lookup -> taxi_zone_lookup (location_id, borough, zone, service_zone), the dbt
source of dim_zones.

The release serves it as <NYC_TLC_BASE_URL>/misc/taxi_zone_lookup.csv (the offline mirror serves
samples/misc/). Every value is text as written: zones 264 and 265 are the 'Unknown' borough's
'NV' and 'NA', which a CSV reader's default NA handling would turn into missing values. A file
with a missing column, a LocationID that is not a whole number, or one given twice is refused
with the line named, and the previous lookup (and dim_zones) stays.
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import pyarrow as pa

from utils.domain.taxi_source import SourceError

log = logging.getLogger(__name__)

PATH = 'misc/taxi_zone_lookup.csv'
HEADER = ['LocationID', 'Borough', 'Zone', 'service_zone']
SCHEMA = pa.schema(
    [('location_id', pa.int64()), ('borough', pa.string()), ('zone', pa.string()), ('service_zone', pa.string())]
)
TABLE = 'taxi_zone_lookup'  # the dbt source of dim_zones (dbt/taxi_marts)


def zones_url(base_url: str) -> str:
    return f'{base_url.rstrip("/")}/{PATH}'


def read_zone_lookup(path: Path, label: str) -> pa.Table:
    """The lookup as a table of SCHEMA; a bad file raises SourceError naming the line."""
    text = path.read_text(encoding='utf-8-sig')
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if header != HEADER:
        missing = [c for c in HEADER if c not in (header or [])]
        raise SourceError(
            f'{label} line 1: the header is {header}, expected {HEADER}'
            + (f' (missing {", ".join(missing)})' if missing else '')
        )
    seen: dict[int, int] = {}
    columns: list[list] = [[], [], [], []]
    for line, row in enumerate(rows, start=2):
        if not row:
            continue
        if len(row) != len(HEADER):
            raise SourceError(f'{label} line {line}: {len(row)} fields, expected {len(HEADER)}: {row}')
        try:
            location_id = int(row[0])
        except ValueError:
            raise SourceError(f'{label} line {line}: LocationID {row[0]!r} is not a whole number') from None
        if location_id in seen:
            raise SourceError(
                f'{label} line {line}: LocationID {location_id} was given already on line {seen[location_id]}'
            )
        seen[location_id] = line
        for values, value in zip(columns, [location_id, *row[1:]], strict=False):
            values.append(value)
    if not seen:
        raise SourceError(f'{label}: no zones')
    return pa.table(dict(zip(SCHEMA.names, columns, strict=False)), schema=SCHEMA)
