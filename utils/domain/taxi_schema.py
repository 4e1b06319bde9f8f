"""The four TLC services, one entry each: the only copy of their columns in the project.

A service's entry (SERVICES below) says everything a step needs: its columns in table order, each
with the TLC's spelling, its clean snake_case name and one *kind*; which columns a month's file
may lack; the cleaning rules of the month pipelines; the column BigQuery clusters by after the
month; and which months each release publishes. Loaders, exporters, sensors and marts read it;
adding a service is adding an entry here (and its descriptions in utils/domain/data_dictionary.py).

    kind        pandas (course taxi_dtypes)   arrow                 postgres            bigquery
    int         Int64                         int64                 BIGINT              INT64
    float       float64                       float64               DOUBLE PRECISION    FLOAT64
    str         str                           string                TEXT                STRING
    datetime    parse_dates                   timestamp[us]         TIMESTAMP           TIMESTAMP
    date        (derived: the pickup's date)  date32                DATE                DATE
    flag        str (the file's text)         int64                 BIGINT              INT64

A *flag* is the TLC's yes-or-empty column (SR_Flag): 1 for yes, NULL for no, as its data
dictionary has it, whatever a year's file writes. The TLC's 2019-2020 files write 1 or nothing;
the course's 2021 files write N for no (fhvhv 2021-06); the parquet files 1.0 or null. Read as
yes: 1, 1.0, Y; read as no: empty, 0, 0.0, N (any case); any other value is refused, a CSV row
by row (its line and column named), a parquet file whole (utils/domain/schema_drift.py).

Files are matched to the entry by column name, case-insensitively (the TLC writes PULocationID,
PUlocationID, dropOff_datetime, Airport_fee in some years and not in others) and cast to these
kinds at the edge (utils/domain/taxi_files.py), so every month of a service has one set of types.
Timestamps are microseconds, not pandas' nanoseconds: BigQuery reads a nanosecond parquet
timestamp as INT64 (mage-ai issue #4582).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

Kind = Literal['int', 'float', 'str', 'datetime', 'date', 'flag']

_ARROW_TYPES: dict[str, pa.DataType] = {
    'int': pa.int64(),
    'float': pa.float64(),
    'str': pa.string(),
    'datetime': pa.timestamp('us'),
    'date': pa.date32(),
    'flag': pa.int64(),
}
_PANDAS_DTYPES = {'int': 'Int64', 'float': 'float64', 'str': 'str', 'flag': 'str'}
_POSTGRES_TYPES = {
    'int': 'BIGINT',
    'float': 'DOUBLE PRECISION',
    'str': 'TEXT',
    'datetime': 'TIMESTAMP',
    'date': 'DATE',
    'flag': 'BIGINT',
}
BIGQUERY_TYPES = {
    'int': 'INT64',
    'float': 'FLOAT64',
    'str': 'STRING',
    'datetime': 'TIMESTAMP',
    'date': 'DATE',
    'flag': 'INT64',
}
# a flag's spellings (upper case, trimmed): what each year's files write for yes and for no
FLAG_YES = frozenset({'1', '1.0', 'Y'})
FLAG_NO = frozenset({'', '0', '0.0', 'N'})

# Source names that the generic CamelCase rule would split badly.
RENAMES: dict[str, str] = {
    'VendorID': 'vendor_id',
    'RatecodeID': 'rate_code_id',
    'PULocationID': 'pu_location_id',
    'DOLocationID': 'do_location_id',
    'PUlocationID': 'pu_location_id',
    'DOlocationID': 'do_location_id',
    'dropOff_datetime': 'dropoff_datetime',
    'SR_Flag': 'sr_flag',
    'Affiliated_base_number': 'affiliated_base_number',
}


def snake_case(name: str) -> str:
    """The one column-naming rule of every pipeline: VendorID -> vendor_id, RatecodeID -> rate_code_id."""
    if name in RENAMES:
        return RENAMES[name]
    name = re.sub(r'(?<=[a-z0-9])(?=[A-Z])', '_', name.strip().replace(' ', '_'))
    return name.lower()


@dataclass(frozen=True)
class Releases:
    """Which months each release publishes, as 'YYYY-MM' (None: the newest it has published)."""

    course: tuple[str, str]  # DataTalksClub/nyc-tlc-data: a frozen copy of 2019-2021
    tlc_from: str  # the TLC's parquet files, from this month to about two months ago
    # months of the TLC's release refused before their download: (first, last, their layout, why)
    tlc_refused: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class TaxiSchema:
    service: str
    kinds: dict[str, Kind]  # source column (the TLC's spelling) -> kind, in table order
    optional: frozenset[str] = frozenset()  # columns a month's file may lack: NULL in that month
    rules: tuple[str, ...] = ()  # the month pipelines' cleaning rules (utils/domain/cleaning.py)
    cluster_by: str = 'vendor_id'  # BigQuery's clustering column after source_month
    releases: Releases = field(default_factory=lambda: Releases(('2019-01', '2021-07'), '2009-01'))

    @property
    def tlc_loads_from(self) -> str:
        """The first month of the TLC's release that this project loads."""
        refused = self.releases.tlc_refused
        if refused is None or refused[0] > self.releases.tlc_from:
            return self.releases.tlc_from
        year, month = map(int, refused[1].split('-'))
        return f'{year + month // 12:04d}-{month % 12 + 1:02d}'

    @property
    def columns(self) -> list[str]:
        """Source column names, in table order."""
        return list(self.kinds)

    @property
    def required(self) -> list[str]:
        return [c for c in self.kinds if c not in self.optional]

    @property
    def clean_columns(self) -> list[str]:
        """Column names after cleaning (snake_case), in table order."""
        return [snake_case(c) for c in self.kinds]

    def without(self, *columns: str) -> TaxiSchema:
        """The entry without some columns (the homework reads the course's 20 green columns)."""
        return TaxiSchema(
            self.service,
            {c: k for c, k in self.kinds.items() if c not in columns},
            self.optional - set(columns),
            self.rules,
            self.cluster_by,
            self.releases,
        )

    def source_column(self, name: str) -> str | None:
        """The entry's spelling of a file's column name, matched case-insensitively, or None."""
        return _folded(self).get(name.strip().lower())

    @property
    def parse_dates(self) -> list[str]:
        return [c for c, k in self.kinds.items() if k == 'datetime']

    @property
    def pickup_column(self) -> str:
        """tpep_pickup_datetime (yellow), lpep_pickup_datetime (green), pickup_datetime (fhv, fhvhv)."""
        return next(c for c in self.parse_dates if 'pickup' in c)

    @property
    def pickup_date_column(self) -> str:
        """lpep_pickup_date (green) or tpep_pickup_date (yellow): the pickup's date, which the
        homework's transformer adds."""
        return snake_case(self.pickup_column).replace('_datetime', '_date')

    @property
    def pandas_dtypes(self) -> dict[str, str]:
        """The course's taxi_dtypes, for pd.read_csv(dtype=..., parse_dates=...)."""
        return {c: _PANDAS_DTYPES[k] for c, k in self.kinds.items() if k != 'datetime'}

    def arrow_schema(self, clean: bool = False) -> pa.Schema:
        names = self.clean_columns if clean else self.columns
        return pa.schema([(n, _ARROW_TYPES[k]) for n, k in zip(names, self.kinds.values(), strict=True)])

    def postgres_columns(self) -> list[tuple[str, str]]:
        """(clean column name, Postgres type) pairs, in table order."""
        return [(snake_case(c), _POSTGRES_TYPES[k]) for c, k in self.kinds.items()]

    def bigquery_columns(self) -> list[tuple[str, str]]:
        """(clean column name, BigQuery type) pairs: timestamps are TIMESTAMP, never INT64."""
        return [(snake_case(c), BIGQUERY_TYPES[k]) for c, k in self.kinds.items()]


_FOLDED: dict[str, dict[str, str]] = {}


def _folded(schema: TaxiSchema) -> dict[str, str]:
    key = f'{schema.service}:{",".join(schema.kinds)}'
    if key not in _FOLDED:
        _FOLDED[key] = {c.lower(): c for c in schema.kinds}
    return _FOLDED[key]


_METERED: dict[str, Kind] = {  # the metered taxis' money and codes, shared by yellow and green
    'passenger_count': 'int',
    'trip_distance': 'float',
    'RatecodeID': 'int',
    'store_and_fwd_flag': 'str',
    'PULocationID': 'int',
    'DOLocationID': 'int',
    'payment_type': 'int',
    'fare_amount': 'float',
    'extra': 'float',
    'mta_tax': 'float',
    'tip_amount': 'float',
    'tolls_amount': 'float',
    'improvement_surcharge': 'float',
    'total_amount': 'float',
    'congestion_surcharge': 'float',
    'ehail_fee': 'float',
    'trip_type': 'int',
    'airport_fee': 'float',
    'cbd_congestion_fee': 'float',
}


def _metered(prefix: str, order: list[str]) -> dict[str, Kind]:
    kinds: dict[str, Kind] = {
        'VendorID': 'int',
        f'{prefix}_pickup_datetime': 'datetime',
        f'{prefix}_dropoff_datetime': 'datetime',
        **_METERED,
    }
    return {name: kinds[name] for name in order}


# the metered taxis' columns, in the TLC's table order (a few a line: fmt off keeps them so)
# fmt: off
_YELLOW_ORDER = [
    'VendorID', 'tpep_pickup_datetime', 'tpep_dropoff_datetime', 'passenger_count', 'trip_distance',
    'RatecodeID', 'store_and_fwd_flag', 'PULocationID', 'DOLocationID', 'payment_type', 'fare_amount',
    'extra', 'mta_tax', 'tip_amount', 'tolls_amount', 'improvement_surcharge', 'total_amount',
    'congestion_surcharge', 'airport_fee', 'cbd_congestion_fee',
]
_GREEN_ORDER = [
    'VendorID', 'lpep_pickup_datetime', 'lpep_dropoff_datetime', 'store_and_fwd_flag', 'RatecodeID',
    'PULocationID', 'DOLocationID', 'passenger_count', 'trip_distance', 'fare_amount', 'extra',
    'mta_tax', 'tip_amount', 'tolls_amount', 'ehail_fee', 'improvement_surcharge', 'total_amount',
    'payment_type', 'trip_type', 'congestion_surcharge', 'cbd_congestion_fee',
]
# fmt: on
# The course's module-2 rule (a trip with no passenger is dropped); FHV records have no
# passenger count, and module 4 keeps a FHV trip unless its dispatching base is missing.
COURSE_RULES: tuple[str, ...] = ('passenger_count_missing', 'passenger_count_not_positive')
_FHV_RULES = ('dispatching_base_num_missing',)

_FHVHV_KINDS: dict[str, Kind] = {
    'hvfhs_license_num': 'str',
    'dispatching_base_num': 'str',
    'originating_base_num': 'str',
    'request_datetime': 'datetime',
    'on_scene_datetime': 'datetime',
    'pickup_datetime': 'datetime',
    'dropoff_datetime': 'datetime',
    'PULocationID': 'int',
    'DOLocationID': 'int',
    'trip_miles': 'float',
    'trip_time': 'int',
    'base_passenger_fare': 'float',
    'tolls': 'float',
    'bcf': 'float',
    'sales_tax': 'float',
    'congestion_surcharge': 'float',
    'airport_fee': 'float',
    'tips': 'float',
    'driver_pay': 'float',
    'shared_request_flag': 'str',
    'shared_match_flag': 'str',
    'access_a_ride_flag': 'str',
    'wav_request_flag': 'str',
    'wav_match_flag': 'str',
    'cbd_congestion_fee': 'float',
    'SR_Flag': 'flag',
    'Affiliated_base_number': 'str',
}

_FHVHV_SHARED = {'dispatching_base_num', 'pickup_datetime', 'dropoff_datetime', 'PULocationID', 'DOLocationID'}

# The TLC's parquet of yellow 2009-2010 keeps those years' own layouts, unlike every later month of
# the release (its 2011-2016 files had their coordinates replaced by zone ids in 2022): the TLC's
# data dictionary of the period, and docs/sources.md for the sources. Refused: see why there.
_YELLOW_2009_2010 = (
    '2009-01',
    '2010-12',
    "that period's own layout (2009: vendor_name, Trip_Pickup_DateTime, Start_Lon, Start_Lat, ...; "
    '2010: vendor_id, pickup_datetime, pickup_longitude, ...): trips located by coordinates, with no zone id, '
    "while this project's tables, cleaning rules and marts are by zone",
)

SCHEMAS: dict[str, TaxiSchema] = {
    'yellow': TaxiSchema(
        'yellow',
        _metered('tpep', _YELLOW_ORDER),
        rules=COURSE_RULES,
        # congestion_surcharge from 2019, airport_fee from 2021 (parquet), cbd_congestion_fee from 2025
        optional=frozenset({'congestion_surcharge', 'airport_fee', 'cbd_congestion_fee'}),
        releases=Releases(('2019-01', '2021-07'), '2009-01', _YELLOW_2009_2010),
    ),
    'green': TaxiSchema(
        'green',
        _metered('lpep', _GREEN_ORDER),
        rules=COURSE_RULES,
        releases=Releases(('2019-01', '2021-07'), '2013-08'),
        optional=frozenset({'congestion_surcharge', 'ehail_fee', 'cbd_congestion_fee'}),
    ),
    'fhv': TaxiSchema(
        'fhv',
        {
            'dispatching_base_num': 'str',
            'pickup_datetime': 'datetime',
            'dropOff_datetime': 'datetime',
            'PUlocationID': 'int',
            'DOlocationID': 'int',
            'SR_Flag': 'flag',
            'Affiliated_base_number': 'str',
        },
        optional=frozenset({'SR_Flag', 'Affiliated_base_number'}),  # the TLC's own CSV has no affiliated base
        rules=_FHV_RULES,
        cluster_by='dispatching_base_num',
        releases=Releases(('2019-01', '2021-07'), '2015-01'),
    ),
    'fhvhv': TaxiSchema(
        'fhvhv',
        _FHVHV_KINDS,
        # The TLC's parquet has the trip's money and flags; its 2019-2020 CSV had 7 columns (SR_Flag
        # the last, gone from the parquet); the course's fhvhv files have the FHV layout (no
        # hvfhs_license_num, an Affiliated_base_number): the five columns all three share are required.
        optional=frozenset(_FHVHV_KINDS) - _FHVHV_SHARED,
        rules=_FHV_RULES,
        cluster_by='hvfhs_license_num',
        releases=Releases(('2019-02', '2021-07'), '2019-02'),
    ),
}
SERVICES: tuple[str, ...] = tuple(SCHEMAS)
# The columns the TLC added after the course's CSV copy was made (2021): the course's files and
# the homework's tables do not have them.
ADDED_AFTER_THE_COURSE: tuple[str, ...] = ('airport_fee', 'cbd_congestion_fee')


def course_layout(service: str) -> TaxiSchema:
    """The service's entry as the course's CSV files have it (yellow 18 columns, green 20)."""
    return schema_for(service).without(*ADDED_AFTER_THE_COURSE)


def postgres_type(arrow_type: pa.DataType) -> str:
    """The PostgreSQL type of an Arrow column of one of the kinds above."""
    for kind, known in _ARROW_TYPES.items():
        if arrow_type.equals(known):
            return _POSTGRES_TYPES[kind]
    raise ValueError(f'no PostgreSQL type for the Arrow type {arrow_type}')


def schema_for(service: str) -> TaxiSchema:
    try:
        return SCHEMAS[service]
    except KeyError:
        raise ValueError(f'unknown taxi service {service!r}: expected one of {", ".join(SERVICES)}') from None
