-- dm_monthly_zone_revenue: the course's module-4 revenue mart, per revenue_zone (the pickup
-- zone's name, grouped by name as the course does), revenue_month (the pickup's month) and
-- service_type, in <POSTGRES_SCHEMA>.
-- A source month's trips can be picked up in another month (a January file holds trips of
-- 31 December), so the sums are kept per source month in int_monthly_zone_revenue: a refresh
-- replaces exactly the source month's contribution there, in one transaction, and the mart is
-- the view that adds the contributions up. Readers never see a half-refreshed mart.
{%- set schema = env_var('POSTGRES_SCHEMA') %}
{%- set service = variables('service') | string | lower | trim %}
{%- set month = '%04d-%02d-01' % (variables('year') | int, variables('month') | int) %}

CREATE TABLE IF NOT EXISTS {{ schema }}.int_monthly_zone_revenue (
    revenue_zone TEXT,
    revenue_month DATE NOT NULL,
    service_type TEXT NOT NULL,
    source_month DATE NOT NULL,
    revenue_monthly_fare DOUBLE PRECISION,
    revenue_monthly_extra DOUBLE PRECISION,
    revenue_monthly_mta_tax DOUBLE PRECISION,
    revenue_monthly_tip_amount DOUBLE PRECISION,
    revenue_monthly_tolls_amount DOUBLE PRECISION,
    revenue_monthly_ehail_fee DOUBLE PRECISION,
    revenue_monthly_improvement_surcharge DOUBLE PRECISION,
    revenue_monthly_total_amount DOUBLE PRECISION,
    revenue_monthly_congestion_surcharge DOUBLE PRECISION,
    total_monthly_trips BIGINT NOT NULL,
    passenger_count_sum BIGINT,
    passenger_count_trips BIGINT,
    trip_distance_sum DOUBLE PRECISION,
    trip_distance_trips BIGINT
);

DELETE FROM {{ schema }}.int_monthly_zone_revenue
WHERE service_type = '{{ service | capitalize }}' AND source_month = DATE '{{ month }}';

INSERT INTO {{ schema }}.int_monthly_zone_revenue
SELECT
    pickup_zone AS revenue_zone,
    date_trunc('month', pickup_datetime)::date AS revenue_month,
    service_type,
    source_month,
    sum(fare_amount),
    sum(extra),
    sum(mta_tax),
    sum(tip_amount),
    sum(tolls_amount),
    sum(coalesce(ehail_fee, 0)),
    sum(improvement_surcharge),
    sum(total_amount),
    sum(congestion_surcharge),
    count(*),
    sum(passenger_count),
    count(passenger_count),
    sum(trip_distance),
    count(trip_distance)
FROM {{ schema }}.fact_trips
WHERE service_type = '{{ service | capitalize }}' AND source_month = DATE '{{ month }}'
GROUP BY 1, 2, 3, 4;

CREATE OR REPLACE VIEW {{ schema }}.dm_monthly_zone_revenue AS
SELECT
    revenue_zone,
    revenue_month,
    service_type,
    sum(revenue_monthly_fare) AS revenue_monthly_fare,
    sum(revenue_monthly_extra) AS revenue_monthly_extra,
    sum(revenue_monthly_mta_tax) AS revenue_monthly_mta_tax,
    sum(revenue_monthly_tip_amount) AS revenue_monthly_tip_amount,
    sum(revenue_monthly_tolls_amount) AS revenue_monthly_tolls_amount,
    sum(revenue_monthly_ehail_fee) AS revenue_monthly_ehail_fee,
    sum(revenue_monthly_improvement_surcharge) AS revenue_monthly_improvement_surcharge,
    sum(revenue_monthly_total_amount) AS revenue_monthly_total_amount,
    sum(revenue_monthly_congestion_surcharge) AS revenue_monthly_congestion_surcharge,
    sum(total_monthly_trips) AS total_monthly_trips,
    sum(passenger_count_sum)::double precision / nullif(sum(passenger_count_trips), 0) AS avg_monthly_passenger_count,
    sum(trip_distance_sum) / nullif(sum(trip_distance_trips), 0) AS avg_monthly_trip_distance
FROM {{ schema }}.int_monthly_zone_revenue
GROUP BY 1, 2, 3;
