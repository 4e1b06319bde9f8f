"""The NYC taxi trip schema, per service: the only copy in the project.

Columns are listed in the order of the DataTalksClub CSV release files. Each column has
one *kind*, and every other representation is derived from it:

    kind        pandas (course taxi_dtypes)   arrow                 postgres
    int         Int64                         int64                 BIGINT
    float       float64                       float64               DOUBLE PRECISION
    str         str                           string                TEXT
    datetime    parse_dates                   timestamp[us]         TIMESTAMP
    date        (derived: the pickup's date)  date32                DATE

Timestamps are microseconds, not pandas' nanoseconds: BigQuery reads a nanosecond parquet
timestamp as INT64 (mage-ai issue #4582).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

Kind = Literal['int', 'float', 'str', 'datetime', 'date']

SERVICES: tuple[str, ...] = ('yellow', 'green')

_ARROW_TYPES: dict[str, pa.DataType] = {
    'int': pa.int64(),
    'float': pa.float64(),
    'str': pa.string(),
    'datetime': pa.timestamp('us'),
    'date': pa.date32(),
}
_PANDAS_DTYPES = {'int': 'Int64', 'float': 'float64', 'str': 'str'}
_POSTGRES_TYPES = {
    'int': 'BIGINT',
    'float': 'DOUBLE PRECISION',
    'str': 'TEXT',
    'datetime': 'TIMESTAMP',
    'date': 'DATE',
}

# Source names that the generic CamelCase rule would split badly.
RENAMES: dict[str, str] = {
    'VendorID': 'vendor_id',
    'RatecodeID': 'rate_code_id',
    'PULocationID': 'pu_location_id',
    'DOLocationID': 'do_location_id',
}


def snake_case(name: str) -> str:
    """The one column-naming rule of every pipeline: VendorID -> vendor_id, RatecodeID -> rate_code_id."""
    if name in RENAMES:
        return RENAMES[name]
    name = re.sub(r'(?<=[a-z0-9])(?=[A-Z])', '_', name.strip().replace(' ', '_'))
    return name.lower()


def _columns(prefix: str, extra: dict[str, Kind], order: list[str]) -> dict[str, Kind]:
    common: dict[str, Kind] = {
        'VendorID': 'int',
        f'{prefix}_pickup_datetime': 'datetime',
        f'{prefix}_dropoff_datetime': 'datetime',
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
        **extra,
    }
    return {name: common[name] for name in order}


@dataclass(frozen=True)
class TaxiSchema:
    service: str
    kinds: dict[str, Kind]  # source column -> kind, in file order

    @property
    def columns(self) -> list[str]:
        """Source column names, in file order."""
        return list(self.kinds)

    @property
    def clean_columns(self) -> list[str]:
        """Column names after cleaning (snake_case), in file order."""
        return [snake_case(c) for c in self.kinds]

    @property
    def parse_dates(self) -> list[str]:
        return [c for c, k in self.kinds.items() if k == 'datetime']

    @property
    def pickup_column(self) -> str:
        """tpep_pickup_datetime (yellow) or lpep_pickup_datetime (green)."""
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
        return pa.schema([(n, _ARROW_TYPES[k]) for n, k in zip(names, self.kinds.values())])

    def postgres_columns(self) -> list[tuple[str, str]]:
        """(clean column name, Postgres type) pairs, in file order."""
        return [(snake_case(c), _POSTGRES_TYPES[k]) for c, k in self.kinds.items()]


_YELLOW_ORDER = [
    'VendorID', 'tpep_pickup_datetime', 'tpep_dropoff_datetime', 'passenger_count',
    'trip_distance', 'RatecodeID', 'store_and_fwd_flag', 'PULocationID', 'DOLocationID',
    'payment_type', 'fare_amount', 'extra', 'mta_tax', 'tip_amount', 'tolls_amount',
    'improvement_surcharge', 'total_amount', 'congestion_surcharge',
]
_GREEN_ORDER = [
    'VendorID', 'lpep_pickup_datetime', 'lpep_dropoff_datetime', 'store_and_fwd_flag',
    'RatecodeID', 'PULocationID', 'DOLocationID', 'passenger_count', 'trip_distance',
    'fare_amount', 'extra', 'mta_tax', 'tip_amount', 'tolls_amount', 'ehail_fee',
    'improvement_surcharge', 'total_amount', 'payment_type', 'trip_type', 'congestion_surcharge',
]

SCHEMAS: dict[str, TaxiSchema] = {
    'yellow': TaxiSchema('yellow', _columns('tpep', {}, _YELLOW_ORDER)),
    'green': TaxiSchema('green', _columns('lpep', {'ehail_fee': 'float', 'trip_type': 'int'}, _GREEN_ORDER)),
}


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
        raise ValueError(
            f"unknown taxi service {service!r}: expected one of {', '.join(SERVICES)}"
        ) from None
