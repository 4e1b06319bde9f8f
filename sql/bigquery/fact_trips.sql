-- fact_trips in BigQuery: the same logic as transformers/fact_trips.sql (PostgreSQL), in
-- BigQuery's dialect. Rendered by utils/bigquery_marts.py (Mage's BigQuery io takes a key file,
-- not the emulator's endpoint): dataset, service, month and table_exists come from there, checked.
-- The first month creates the table from its rows; later months replace theirs in one transaction.
{%- set pickup = 'lpep' if service == 'green' else 'tpep' %}
{%- set table = '`' ~ project ~ '.' ~ dataset ~ '.fact_trips`' %}
{%- set trips_of_the_month %}
SELECT
    '{{ service | capitalize }}' AS service_type,
    trips.source_month,
    trips.vendor_id,
    trips.rate_code_id,
    trips.pu_location_id AS pickup_location_id,
    pickup_zone.borough AS pickup_borough,
    pickup_zone.zone AS pickup_zone,
    trips.do_location_id AS dropoff_location_id,
    dropoff_zone.borough AS dropoff_borough,
    dropoff_zone.zone AS dropoff_zone,
    trips.{{ pickup }}_pickup_datetime AS pickup_datetime,
    trips.{{ pickup }}_dropoff_datetime AS dropoff_datetime,
    trips.store_and_fwd_flag,
    trips.passenger_count,
    trips.trip_distance,
    {{ 'trips.trip_type' if service == 'green' else 'CAST(1 AS INT64)' }} AS trip_type,
    trips.fare_amount,
    trips.extra,
    trips.mta_tax,
    trips.tip_amount,
    trips.tolls_amount,
    {{ 'trips.ehail_fee' if service == 'green' else 'CAST(0 AS FLOAT64)' }} AS ehail_fee,
    trips.improvement_surcharge,
    trips.total_amount,
    trips.payment_type,
    trips.congestion_surcharge
FROM `{{ project }}.{{ dataset }}.{{ service }}_tripdata` AS trips
JOIN `{{ project }}.{{ dataset }}.dim_zones` AS pickup_zone
    ON pickup_zone.location_id = trips.pu_location_id AND pickup_zone.borough != 'Unknown'
JOIN `{{ project }}.{{ dataset }}.dim_zones` AS dropoff_zone
    ON dropoff_zone.location_id = trips.do_location_id AND dropoff_zone.borough != 'Unknown'
WHERE trips.source_month = DATE '{{ month }}'
{%- endset %}
{%- if table_exists %}
BEGIN TRANSACTION;
DELETE FROM {{ table }} WHERE service_type = '{{ service | capitalize }}' AND source_month = DATE '{{ month }}';
INSERT INTO {{ table }}
{{ trips_of_the_month }};
COMMIT TRANSACTION;
{%- else %}
CREATE TABLE {{ table }}
PARTITION BY DATE(pickup_datetime)
CLUSTER BY source_month, service_type
AS
{{ trips_of_the_month }}
{%- endif %}
