-- The green trips in the shape every service shares (the course's stg_green_tripdata).
select
    vendor_id,
    rate_code_id,
    pu_location_id as pickup_location_id,
    do_location_id as dropoff_location_id,
    lpep_pickup_datetime as pickup_datetime,
    lpep_dropoff_datetime as dropoff_datetime,
    store_and_fwd_flag,
    passenger_count,
    trip_distance,
    trip_type,
    fare_amount,
    extra,
    mta_tax,
    tip_amount,
    tolls_amount,
    ehail_fee,
    improvement_surcharge,
    total_amount,
    payment_type,
    congestion_surcharge,
    source_month
from {{ source('taxi', 'green_trips') }}
