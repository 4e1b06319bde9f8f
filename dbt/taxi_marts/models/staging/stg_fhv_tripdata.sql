-- The FHV trips (the course's module-4 stg_fhv_tripdata): the loaded rows, with the location
-- columns named as the taxis' are. The load has already dropped the trips with no dispatching
-- base (the course's one FHV rule, utils/domain/taxi_schema.py); nothing else is filtered here.
select
    dispatching_base_num,
    pickup_datetime,
    dropoff_datetime,
    pu_location_id as pickup_location_id,
    do_location_id as dropoff_location_id,
    sr_flag,
    affiliated_base_number,
    source_month
from {{ source('taxi', 'fhv_trips') }}
