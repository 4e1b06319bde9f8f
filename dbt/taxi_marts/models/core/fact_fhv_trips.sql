-- The FHV trips of one source month with their pickup and drop-off zones (the course's module-4
-- fact_fhv_trips). A run replaces the rows of its month (vars service=fhv, year, month) and no
-- other. As in fact_trips, a trip whose pickup or drop-off zone is missing (FHV files leave many
-- empty), not in dim_zones, or in the 'Unknown' borough is left out; the test
-- fact_month_rows_reconcile counts them.
{{ config(
    enabled=builds('fact_fhv_trips'),
    materialized='replace_where',
    replace_where=this_month_rows(),
    indexes=[{'columns': ['source_month']}],
    partition_by={'field': 'source_month', 'data_type': 'date', 'granularity': 'month'},
    cluster_by=['dispatching_base_num', 'pickup_datetime'],
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
    trips.source_month,
    trips.dispatching_base_num,
    trips.affiliated_base_number,
    trips.pickup_datetime,
    trips.dropoff_datetime,
    trips.pickup_location_id,
    pickup_zone.borough as pickup_borough,
    pickup_zone.zone as pickup_zone,
    trips.dropoff_location_id,
    dropoff_zone.borough as dropoff_borough,
    dropoff_zone.zone as dropoff_zone,
    trips.sr_flag
from trips
inner join zones as pickup_zone on trips.pickup_location_id = pickup_zone.location_id
inner join zones as dropoff_zone on trips.dropoff_location_id = dropoff_zone.location_id
