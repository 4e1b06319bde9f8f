-- Every trip of the run's month is in its fact table (fact_trips, fact_fhv_trips) or left out
-- for an unknown zone (missing from dim_zones, or in the 'Unknown' borough), and none twice: a
-- row here is a month that does not add up, with its three counts.
with loaded as (
    select * from {{ trips_of_the_service() }}
    where source_month = {{ this_source_month() }}
),

known_zones as (
    select location_id from {{ ref('dim_zones') }}
    where borough != 'Unknown'
),

counts as (
    select
        (select count(*) from loaded) as loaded_rows,
        (
            select count(*) from {{ fact_of_the_service() }}
            where {{ this_month_rows() }}
        ) as fact_rows,
        (
            select count(*) from loaded
            where
                loaded.pickup_location_id not in (select known_zones.location_id from known_zones)
                or loaded.dropoff_location_id not in (select known_zones.location_id from known_zones)
                or loaded.pickup_location_id is null
                or loaded.dropoff_location_id is null
        ) as left_out_rows
)

select * from counts
where loaded_rows != fact_rows + left_out_rows
