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


# --- the data dictionary: what each column means --------------------------------------------
# From the TLC's data dictionaries for yellow and green trip records, by clean column name (the
# tpep_/lpep_ prefix taken off), plus the project's own columns, the zone lookup's and the
# marts'. PostgreSQL gets them as COMMENT ON COLUMN, BigQuery as column descriptions.
_TRIP_DESCRIPTIONS: dict[str, str] = {
    'vendor_id': 'The provider that sent the record: 1 = Creative Mobile Technologies, LLC; 2 = VeriFone Inc.',
    'pickup_datetime': 'The date and time when the meter was engaged.',
    'dropoff_datetime': 'The date and time when the meter was disengaged.',
    'passenger_count': 'The number of passengers in the vehicle (a value the driver enters).',
    'trip_distance': 'The elapsed trip distance in miles reported by the taximeter.',
    'rate_code_id': 'The final rate code in effect at the end of the trip: 1 = Standard rate, 2 = JFK, '
                    '3 = Newark, 4 = Nassau or Westchester, 5 = Negotiated fare, 6 = Group ride.',
    'store_and_fwd_flag': 'Y when the trip record was held in vehicle memory before being sent to the vendor '
                          '("store and forward", no connection to the server), N when it was not.',
    'pu_location_id': 'The TLC Taxi Zone in which the taximeter was engaged (LocationID of the zone lookup).',
    'do_location_id': 'The TLC Taxi Zone in which the taximeter was disengaged (LocationID of the zone lookup).',
    'payment_type': 'How the passenger paid: 1 = Credit card, 2 = Cash, 3 = No charge, 4 = Dispute, '
                    '5 = Unknown, 6 = Voided trip.',
    'fare_amount': 'The time-and-distance fare calculated by the meter.',
    'extra': 'Miscellaneous extras and surcharges (the rush hour and overnight charges).',
    'mta_tax': 'The $0.50 MTA tax, triggered automatically by the metered rate in use.',
    'tip_amount': 'The tip: filled in automatically for credit card tips; cash tips are not included.',
    'tolls_amount': 'The total amount of all tolls paid in the trip.',
    'ehail_fee': 'The e-hail fee (green taxis; empty in the release files; 0 for yellow in the marts).',
    'improvement_surcharge': 'The $0.30 improvement surcharge assessed on hailed trips at the flag drop (since 2015).',
    'total_amount': 'The total amount charged to passengers; cash tips are not included.',
    'congestion_surcharge': "The amount collected in the trip for New York State's congestion surcharge.",
    'trip_type': 'Street-hail or dispatch, assigned from the metered rate in use, changeable by the driver: '
                 '1 = Street-hail, 2 = Dispatch (green taxis; 1 for yellow in the marts).',
    'source_month': "The month of the release file the row came from; a month's load replaces exactly these rows.",
    'pickup_date': "The pickup's date (the date of the pickup time): the homework's GCS partition column.",
}
_OTHER_DESCRIPTIONS: dict[str, str] = {
    # the zone lookup (dim_zones)
    'location_id': 'The TLC Taxi Zone id (LocationID of the zone lookup).',
    'borough': "The zone's borough ('Unknown' for zones 264 NV and 265 NA).",
    'zone': "The zone's name.",
    'service_zone': "The zone's service zone (Yellow Zone, Boro Zone, Airports, EWR, N/A).",
    # fact_trips
    'service_type': "The trip's service: 'Green' or 'Yellow'.",
    'pickup_location_id': 'The TLC Taxi Zone in which the taximeter was engaged.',
    'pickup_borough': "The pickup zone's borough.",
    'pickup_zone': "The pickup zone's name.",
    'dropoff_location_id': 'The TLC Taxi Zone in which the taximeter was disengaged.',
    'dropoff_borough': "The drop-off zone's borough.",
    'dropoff_zone': "The drop-off zone's name.",
    # dm_monthly_zone_revenue and its per-source-month sums
    'revenue_zone': "The pickup zone's name (the course groups the mart by name).",
    'revenue_month': "The month of the pickup.",
    'total_monthly_trips': 'The number of trips.',
    'avg_monthly_passenger_count': 'The average passenger_count of the trips.',
    'avg_monthly_trip_distance': 'The average trip_distance of the trips, in miles.',
    'passenger_count_sum': 'The sum of passenger_count (for the average).',
    'passenger_count_trips': 'The trips with a passenger_count (for the average).',
    'trip_distance_sum': 'The sum of trip_distance (for the average).',
    'trip_distance_trips': 'The trips with a trip_distance (for the average).',
}
_MONEY_SUMS = {'fare': 'fare_amount', 'extra': 'extra', 'mta_tax': 'mta_tax', 'tip_amount': 'tip_amount',
               'tolls_amount': 'tolls_amount', 'ehail_fee': 'ehail_fee', 'improvement_surcharge': 'improvement_surcharge',
               'total_amount': 'total_amount', 'congestion_surcharge': 'congestion_surcharge'}


def describe(column: str) -> str | None:
    """What a column of the project's tables means (trips, zones, marts), or None."""
    if column in _OTHER_DESCRIPTIONS:
        return _OTHER_DESCRIPTIONS[column]
    if column.startswith('revenue_monthly_') and column.removeprefix('revenue_monthly_') in _MONEY_SUMS:
        money = _MONEY_SUMS[column.removeprefix('revenue_monthly_')]
        return f'The sum of {money} over the trips: {_TRIP_DESCRIPTIONS[money]}'
    return _TRIP_DESCRIPTIONS.get(re.sub(r'^[tl]pep_', '', column))
