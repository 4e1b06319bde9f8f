-- Every pickup and drop-off zone of the run's month is in dim_zones: a zone id the lookup does
-- not have means the lookup is out of date (fact_trips would silently leave those trips out).
-- A row here is a zone id missing from dim_zones, with how many of the month's trips use it.
with trips as (
    select * from {{ trips_of_the_service() }}
    where source_month = {{ this_source_month() }}
),

zone_ids as (
    select pickup_location_id as location_id from trips
    union all
    select dropoff_location_id from trips
)

select
    zone_ids.location_id,
    count(*) as trips
from zone_ids
where zone_ids.location_id not in (select dim_zones.location_id from {{ ref('dim_zones') }} as dim_zones)
group by zone_ids.location_id
