-- The taxi zones (the course's dim_zones), replaced whole in one transaction by each run.
{{ config(materialized='replace_where', replace_where='1 = 1') }}
select
    location_id,
    borough,
    zone,
    service_zone
from {{ source('taxi', 'taxi_zone_lookup') }}
