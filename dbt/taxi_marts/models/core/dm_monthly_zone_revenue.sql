-- The course's monthly revenue mart, per revenue_zone (the pickup zone's name, grouped by name
-- as the course does), revenue_month (the pickup's month) and service_type: a view adding up
-- the source months' contributions, so readers never see a half-refreshed mart.
{{ config(enabled=builds('fact_trips')) }}

select
    revenue_zone,
    revenue_month,
    service_type,
    sum(revenue_monthly_fare) as revenue_monthly_fare,
    sum(revenue_monthly_extra) as revenue_monthly_extra,
    sum(revenue_monthly_mta_tax) as revenue_monthly_mta_tax,
    sum(revenue_monthly_tip_amount) as revenue_monthly_tip_amount,
    sum(revenue_monthly_tolls_amount) as revenue_monthly_tolls_amount,
    sum(revenue_monthly_ehail_fee) as revenue_monthly_ehail_fee,
    sum(revenue_monthly_improvement_surcharge) as revenue_monthly_improvement_surcharge,
    sum(revenue_monthly_total_amount) as revenue_monthly_total_amount,
    sum(revenue_monthly_congestion_surcharge) as revenue_monthly_congestion_surcharge,
    sum(total_monthly_trips) as total_monthly_trips,
    cast(sum(passenger_count_sum) as {{ dbt.type_float() }})
    / nullif(sum(passenger_count_trips), 0) as avg_monthly_passenger_count,
    sum(trip_distance_sum) / nullif(sum(trip_distance_trips), 0) as avg_monthly_trip_distance
from {{ ref('int_monthly_zone_revenue') }}
group by 1, 2, 3
