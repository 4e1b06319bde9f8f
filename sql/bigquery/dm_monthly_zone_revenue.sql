-- dm_monthly_zone_revenue in BigQuery: the same logic as transformers/dm_monthly_zone_revenue.sql
-- (PostgreSQL), in BigQuery's dialect: the month's contribution, per source month, in
-- int_monthly_zone_revenue (created by the first month, replaced in one transaction later), and
-- the mart the view that adds the contributions up.
{%- set table = '`' ~ project ~ '.' ~ dataset ~ '.int_monthly_zone_revenue`' %}
{%- set contribution %}
SELECT
    pickup_zone AS revenue_zone,
    DATE_TRUNC(DATE(pickup_datetime), MONTH) AS revenue_month,
    service_type,
    source_month,
    SUM(fare_amount) AS revenue_monthly_fare,
    SUM(extra) AS revenue_monthly_extra,
    SUM(mta_tax) AS revenue_monthly_mta_tax,
    SUM(tip_amount) AS revenue_monthly_tip_amount,
    SUM(tolls_amount) AS revenue_monthly_tolls_amount,
    SUM(COALESCE(ehail_fee, 0)) AS revenue_monthly_ehail_fee,
    SUM(improvement_surcharge) AS revenue_monthly_improvement_surcharge,
    SUM(total_amount) AS revenue_monthly_total_amount,
    SUM(congestion_surcharge) AS revenue_monthly_congestion_surcharge,
    COUNT(*) AS total_monthly_trips,
    SUM(passenger_count) AS passenger_count_sum,
    COUNT(passenger_count) AS passenger_count_trips,
    SUM(trip_distance) AS trip_distance_sum,
    COUNT(trip_distance) AS trip_distance_trips
FROM `{{ project }}.{{ dataset }}.fact_trips`
WHERE service_type = '{{ service | capitalize }}' AND source_month = DATE '{{ month }}'
GROUP BY 1, 2, 3, 4
{%- endset %}
{%- if table_exists %}
BEGIN TRANSACTION;
DELETE FROM {{ table }} WHERE service_type = '{{ service | capitalize }}' AND source_month = DATE '{{ month }}';
INSERT INTO {{ table }}
{{ contribution }};
COMMIT TRANSACTION;
{%- else %}
CREATE TABLE {{ table }}
CLUSTER BY source_month, service_type
AS
{{ contribution }};
{%- endif %}

CREATE OR REPLACE VIEW `{{ project }}.{{ dataset }}.dm_monthly_zone_revenue` AS
SELECT
    revenue_zone,
    revenue_month,
    service_type,
    SUM(revenue_monthly_fare) AS revenue_monthly_fare,
    SUM(revenue_monthly_extra) AS revenue_monthly_extra,
    SUM(revenue_monthly_mta_tax) AS revenue_monthly_mta_tax,
    SUM(revenue_monthly_tip_amount) AS revenue_monthly_tip_amount,
    SUM(revenue_monthly_tolls_amount) AS revenue_monthly_tolls_amount,
    SUM(revenue_monthly_ehail_fee) AS revenue_monthly_ehail_fee,
    SUM(revenue_monthly_improvement_surcharge) AS revenue_monthly_improvement_surcharge,
    SUM(revenue_monthly_total_amount) AS revenue_monthly_total_amount,
    SUM(revenue_monthly_congestion_surcharge) AS revenue_monthly_congestion_surcharge,
    SUM(total_monthly_trips) AS total_monthly_trips,
    SAFE_DIVIDE(SUM(passenger_count_sum), SUM(passenger_count_trips)) AS avg_monthly_passenger_count,
    SAFE_DIVIDE(SUM(trip_distance_sum), SUM(trip_distance_trips)) AS avg_monthly_trip_distance
FROM {{ table }}
GROUP BY 1, 2, 3;
