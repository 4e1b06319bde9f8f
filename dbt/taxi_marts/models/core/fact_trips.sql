-- The cleaned trips of one source month with their pickup and drop-off zones (the course's
-- fact_trips). A run replaces the rows of its month (vars service, year, month) and no other.
-- As in the course, a trip whose pickup or drop-off zone is missing from dim_zones or in the
-- 'Unknown' borough (264 NV, 265 NA) is left out; the test fact_month_rows_reconcile counts them.
{{ config(
    enabled=builds('fact_trips'),
    materialized='replace_where',
    replace_where=this_month_rows(),
    indexes=[{'columns': ['service_type', 'source_month']}],
    partition_by={'field': 'source_month', 'data_type': 'date', 'granularity': 'month'},
    cluster_by=['service_type', 'pickup_datetime'],
) }}

with trips as (
    select * from {{ trips_of_the_service() }}
    where source_month = {{ this_source_month() }}
),

zones as (
    select * from {{ ref('dim_zones') }}
    where borough != 'Unknown'
)

select
    '{{ this_month().service_type }}' as service_type,
    trips.source_month,
    trips.vendor_id,
    trips.rate_code_id,
    trips.pickup_location_id,
    pickup_zone.borough as pickup_borough,
    pickup_zone.zone as pickup_zone,
    trips.dropoff_location_id,
    dropoff_zone.borough as dropoff_borough,
    dropoff_zone.zone as dropoff_zone,
    trips.pickup_datetime,
    trips.dropoff_datetime,
    trips.store_and_fwd_flag,
    trips.passenger_count,
    trips.trip_distance,
    trips.trip_type,
    trips.fare_amount,
    trips.extra,
    trips.mta_tax,
    trips.tip_amount,
    trips.tolls_amount,
    trips.ehail_fee,
    trips.improvement_surcharge,
    trips.total_amount,
    trips.payment_type,
    trips.congestion_surcharge
from trips
inner join zones as pickup_zone on trips.pickup_location_id = pickup_zone.location_id
inner join zones as dropoff_zone on trips.dropoff_location_id = dropoff_zone.location_id
