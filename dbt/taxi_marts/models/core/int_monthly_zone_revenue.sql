-- One source month's contribution to dm_monthly_zone_revenue. A month's file holds trips picked
-- up in other months (a January file has trips of 31 December), so the sums are kept per source
-- month: a run replaces exactly its month's contribution, and the mart adds them up.
{{ config(
    enabled=builds('fact_trips'),
    materialized='replace_where',
    replace_where=this_month_rows(),
    indexes=[{'columns': ['service_type', 'source_month']}],
    partition_by={'field': 'source_month', 'data_type': 'date', 'granularity': 'month'},
    cluster_by=['service_type'],
) }}

select
    pickup_zone as revenue_zone,
    cast({{ dbt.date_trunc('month', 'pickup_datetime') }} as date) as revenue_month,
    service_type,
    source_month,
    sum(fare_amount) as revenue_monthly_fare,
    sum(extra) as revenue_monthly_extra,
    sum(mta_tax) as revenue_monthly_mta_tax,
    sum(tip_amount) as revenue_monthly_tip_amount,
    sum(tolls_amount) as revenue_monthly_tolls_amount,
    sum(coalesce(ehail_fee, 0)) as revenue_monthly_ehail_fee,
    sum(improvement_surcharge) as revenue_monthly_improvement_surcharge,
    sum(total_amount) as revenue_monthly_total_amount,
    sum(congestion_surcharge) as revenue_monthly_congestion_surcharge,
    count(*) as total_monthly_trips,
    sum(passenger_count) as passenger_count_sum,
    count(passenger_count) as passenger_count_trips,
    sum(trip_distance) as trip_distance_sum,
    count(trip_distance) as trip_distance_trips
from {{ ref('fact_trips') }}
where {{ this_month_rows() }}
group by 1, 2, 3, 4
