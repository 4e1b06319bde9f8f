"""The course's own pandas way, written out independently of utils/: the tests' oracle."""

import pandas as pd

COURSE_TAXI_DTYPES = {
    'VendorID': pd.Int64Dtype(),
    'passenger_count': pd.Int64Dtype(),
    'trip_distance': float,
    'RatecodeID': pd.Int64Dtype(),
    'store_and_fwd_flag': str,
    'PULocationID': pd.Int64Dtype(),
    'DOLocationID': pd.Int64Dtype(),
    'payment_type': pd.Int64Dtype(),
    'fare_amount': float,
    'extra': float,
    'mta_tax': float,
    'tip_amount': float,
    'tolls_amount': float,
    'improvement_surcharge': float,
    'total_amount': float,
    'congestion_surcharge': float,
}
GREEN_EXTRA = {'ehail_fee': float, 'trip_type': pd.Int64Dtype()}


def course_clean(path, service: str) -> pd.DataFrame:
    """pd.read_csv with the course dtypes, then data[data['passenger_count'] > 0]."""
    prefix = 'tpep' if service == 'yellow' else 'lpep'
    dtypes = {**COURSE_TAXI_DTYPES, **(GREEN_EXTRA if service == 'green' else {})}
    data = pd.read_csv(
        path, sep=',', compression='infer', dtype=dtypes,
        parse_dates=[f'{prefix}_pickup_datetime', f'{prefix}_dropoff_datetime'],
    )
    return data[data['passenger_count'] > 0]
