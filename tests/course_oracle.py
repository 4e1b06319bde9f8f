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
        path,
        sep=',',
        compression='infer',
        dtype=dtypes,
        parse_dates=[f'{prefix}_pickup_datetime', f'{prefix}_dropoff_datetime'],
    )
    return data[data['passenger_count'] > 0]


# The homework's renames (2024 cohort, Mage), spelled out here, not derived from utils/.
HOMEWORK_RENAMES = {
    'VendorID': 'vendor_id',
    'RatecodeID': 'rate_code_id',
    'PULocationID': 'pu_location_id',
    'DOLocationID': 'do_location_id',
}


def homework_transform(paths) -> pd.DataFrame:
    """The homework's transformer in pandas: the months concatenated, then
    data[(data['passenger_count'] > 0) & (data['trip_distance'] > 0)], lpep_pickup_date added,
    the four CamelCase columns renamed."""
    dtypes = {**COURSE_TAXI_DTYPES, **GREEN_EXTRA}
    data = pd.concat(
        [
            pd.read_csv(
                p,
                sep=',',
                compression='infer',
                dtype=dtypes,
                parse_dates=['lpep_pickup_datetime', 'lpep_dropoff_datetime'],
            )
            for p in paths
        ],
        ignore_index=True,
    )
    data = data[(data['passenger_count'] > 0) & (data['trip_distance'] > 0)].copy()
    data['lpep_pickup_date'] = data['lpep_pickup_datetime'].dt.date
    return data.rename(columns=HOMEWORK_RENAMES)


def zone_lookup(path) -> pd.DataFrame:
    """The zone lookup with every value as written ('NV' and 'NA' are zone names, not missing)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False).astype({'LocationID': int})


def monthly_zone_revenue(months: dict, zones_path) -> pd.DataFrame:
    """The course's dm_monthly_zone_revenue in pandas, from {(service, path): ...} of the course-
    cleaned files: trips joined to their pickup and drop-off zones (the 'Unknown' borough and ids
    missing from the lookup left out), grouped by pickup zone name, pickup month and service."""
    zones = zone_lookup(zones_path).set_index('LocationID')
    known = zones[zones['Borough'] != 'Unknown']
    frames = []
    for service, path in months:
        prefix = 'lpep' if service == 'green' else 'tpep'
        trips = course_clean(path, service)
        trips = trips[trips['PULocationID'].isin(known.index) & trips['DOLocationID'].isin(known.index)]
        frames.append(
            pd.DataFrame(
                {
                    'revenue_zone': trips['PULocationID'].map(known['Zone']).values,
                    'revenue_month': trips[f'{prefix}_pickup_datetime']
                    .dt.to_period('M')
                    .dt.to_timestamp()
                    .dt.date.values,
                    'service_type': service.capitalize(),
                    'total_amount': trips['total_amount'].values,
                    'trip_distance': trips['trip_distance'].values,
                }
            )
        )
    return (
        pd.concat(frames)
        .groupby(['revenue_zone', 'revenue_month', 'service_type'])
        .agg(
            trips=('total_amount', 'size'), total_amount=('total_amount', 'sum'), avg_distance=('trip_distance', 'mean')
        )
        .reset_index()
    )


def mart_figures(months, zones_path=None) -> dict:
    """{(zone, month, service): (trips, total_amount, average distance)} of monthly_zone_revenue,
    with the bundled zone lookup by default."""
    from pathlib import Path

    zones = zones_path or Path(__file__).resolve().parents[1] / 'samples' / 'misc' / 'taxi_zone_lookup.csv'
    frame = monthly_zone_revenue(months, zones)
    return {
        (r.revenue_zone, r.revenue_month, r.service_type): (r.trips, r.total_amount, r.avg_distance)
        for r in frame.itertuples()
    }
