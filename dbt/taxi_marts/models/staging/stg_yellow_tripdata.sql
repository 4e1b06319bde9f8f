-- The yellow trips in the shape every service shares (the course's stg_yellow_tripdata):
-- tpep_ times renamed, trip_type and ehail_fee (green-only columns) set as the course does.
select
    vendor_id,
    rate_code_id,
    pu_location_id as pickup_location_id,
    do_location_id as dropoff_location_id,
    tpep_pickup_datetime as pickup_datetime,
    tpep_dropoff_datetime as dropoff_datetime,
    store_and_fwd_flag,
    passenger_count,
    trip_distance,
    cast(1 as {{ dbt.type_bigint() }}) as trip_type,
    fare_amount,
    extra,
    mta_tax,
    tip_amount,
    tolls_amount,
    cast(0 as {{ dbt.type_float() }}) as ehail_fee,
    improvement_surcharge,
    total_amount,
    payment_type,
    congestion_surcharge,
    source_month
from {{ source('taxi', 'yellow_trips') }}
