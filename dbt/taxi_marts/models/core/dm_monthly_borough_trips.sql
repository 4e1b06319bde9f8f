-- Monthly trips and revenue per pickup borough and service (the course's dashboard question:
-- where do the trips start, and what do they earn?): a view over fact_trips.
{{ config(enabled=builds('fact_trips')) }}

select
    pickup_borough,
    cast({{ dbt.date_trunc('month', 'pickup_datetime') }} as date) as revenue_month,
    service_type,
    count(*) as total_monthly_trips,
    sum(total_amount) as revenue_monthly_total_amount
from {{ ref('fact_trips') }}
group by 1, 2, 3
