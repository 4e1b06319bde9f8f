-- fact_trips: the cleaned trips of both services with their pickup and drop-off zones (the
-- course's module-4 fact_trips), in <POSTGRES_SCHEMA>.fact_trips.
-- A run refreshes ONE source month (variables service, year, month; checked by the block
-- check_source_month before this SQL is rendered): its old rows out, its rows from
-- <service>_taxi_data in, in one transaction. As in the course, a trip whose pickup or drop-off
-- zone is missing from dim_zones or in the 'Unknown' borough (264 'NV', 265 'NA') is left out;
-- report_mart_refresh counts them.
{%- set schema = env_var('POSTGRES_SCHEMA') %}
{%- set service = variables('service') | string | lower | trim %}
{%- set month = '%04d-%02d-01' % (variables('year') | int, variables('month') | int) %}
{%- set pickup = 'lpep' if service == 'green' else 'tpep' %}

CREATE TABLE IF NOT EXISTS {{ schema }}.fact_trips (
    service_type TEXT NOT NULL,
    source_month DATE NOT NULL,
    vendor_id BIGINT,
    rate_code_id BIGINT,
    pickup_location_id BIGINT,
    pickup_borough TEXT,
    pickup_zone TEXT,
    dropoff_location_id BIGINT,
    dropoff_borough TEXT,
    dropoff_zone TEXT,
    pickup_datetime TIMESTAMP,
    dropoff_datetime TIMESTAMP,
    store_and_fwd_flag TEXT,
    passenger_count BIGINT,
    trip_distance DOUBLE PRECISION,
    trip_type BIGINT,
    fare_amount DOUBLE PRECISION,
    extra DOUBLE PRECISION,
    mta_tax DOUBLE PRECISION,
    tip_amount DOUBLE PRECISION,
    tolls_amount DOUBLE PRECISION,
    ehail_fee DOUBLE PRECISION,
    improvement_surcharge DOUBLE PRECISION,
    total_amount DOUBLE PRECISION,
    payment_type BIGINT,
    congestion_surcharge DOUBLE PRECISION
);

DELETE FROM {{ schema }}.fact_trips
WHERE service_type = '{{ service | capitalize }}' AND source_month = DATE '{{ month }}';

INSERT INTO {{ schema }}.fact_trips
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
    {{ 'trips.trip_type' if service == 'green' else '1' }} AS trip_type,
    trips.fare_amount,
    trips.extra,
    trips.mta_tax,
    trips.tip_amount,
    trips.tolls_amount,
    {{ 'trips.ehail_fee' if service == 'green' else '0' }} AS ehail_fee,
    trips.improvement_surcharge,
    trips.total_amount,
    trips.payment_type,
    trips.congestion_surcharge
FROM {{ schema }}.{{ service }}_taxi_data AS trips
JOIN {{ schema }}.dim_zones AS pickup_zone
    ON pickup_zone.location_id = trips.pu_location_id AND pickup_zone.borough != 'Unknown'
JOIN {{ schema }}.dim_zones AS dropoff_zone
    ON dropoff_zone.location_id = trips.do_location_id AND dropoff_zone.borough != 'Unknown'
WHERE trips.source_month = DATE '{{ month }}';
