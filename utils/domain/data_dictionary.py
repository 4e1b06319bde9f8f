"""The data dictionary: what each column of the project's tables means.

PostgreSQL gets these as COMMENT ON COLUMN, BigQuery as column descriptions, dbt's docs from the
marts' yml. By clean column name; the service prefix (tpep_, lpep_) taken off.
"""

from __future__ import annotations

import re

# --- the data dictionary: what each column means --------------------------------------------
# From the TLC's data dictionaries for yellow and green trip records, by clean column name (the
# tpep_/lpep_ prefix taken off), plus the project's own columns, the zone lookup's and the
# marts'. PostgreSQL gets them as COMMENT ON COLUMN, BigQuery as column descriptions.
_TRIP_DESCRIPTIONS: dict[str, str] = {
    'vendor_id': 'The provider that sent the record: 1 = Creative Mobile Technologies, LLC; 2 = VeriFone Inc.',
    'pickup_datetime': 'The date and time of the pick-up (a taxi: when the meter was engaged).',
    'dropoff_datetime': 'The date and time of the drop-off (a taxi: when the meter was disengaged).',
    'passenger_count': 'The number of passengers in the vehicle (a value the driver enters).',
    'trip_distance': 'The elapsed trip distance in miles reported by the taximeter.',
    'rate_code_id': 'The final rate code in effect at the end of the trip: 1 = Standard rate, 2 = JFK, '
    '3 = Newark, 4 = Nassau or Westchester, 5 = Negotiated fare, 6 = Group ride.',
    'store_and_fwd_flag': 'Y when the trip record was held in vehicle memory before being sent to the vendor '
    '("store and forward", no connection to the server), N when it was not.',
    'pu_location_id': 'The TLC Taxi Zone in which the taximeter was engaged (LocationID of the zone lookup).',
    'do_location_id': 'The TLC Taxi Zone in which the taximeter was disengaged (LocationID of the zone lookup).',
    'payment_type': 'How the passenger paid: 1 = Credit card, 2 = Cash, 3 = No charge, 4 = Dispute, '
    '5 = Unknown, 6 = Voided trip.',
    'fare_amount': 'The time-and-distance fare calculated by the meter.',
    'extra': 'Miscellaneous extras and surcharges (the rush hour and overnight charges).',
    'mta_tax': 'The $0.50 MTA tax, triggered automatically by the metered rate in use.',
    'tip_amount': 'The tip: filled in automatically for credit card tips; cash tips are not included.',
    'tolls_amount': 'The total amount of all tolls paid in the trip.',
    'ehail_fee': 'The e-hail fee (green taxis; empty in the release files; 0 for yellow in the marts).',
    'improvement_surcharge': 'The $0.30 improvement surcharge assessed on hailed trips at the flag drop (since 2015).',
    'total_amount': 'The total amount charged to passengers; cash tips are not included.',
    'congestion_surcharge': "The amount collected in the trip for New York State's congestion surcharge.",
    'trip_type': 'Street-hail or dispatch, assigned from the metered rate in use, changeable by the driver: '
    '1 = Street-hail, 2 = Dispatch (green taxis; 1 for yellow in the marts).',
    'airport_fee': 'The $1.25 charged for a pick-up at LaGuardia or JFK airport (from 2021).',
    'cbd_congestion_fee': "The per-trip charge for the MTA's Congestion Relief Zone (from 2025-01-05).",
    # the for-hire vehicles (fhv, fhvhv)
    'dispatching_base_num': 'The TLC Base License Number of the base that dispatched the trip.',
    'affiliated_base_number': 'The TLC Base License Number of the base the vehicle is affiliated with.',
    'sr_flag': '1 when the trip was part of a shared ride chain offered by a High Volume FHV company '
    "(Uber Pool, Lyft Line); empty otherwise (the course's 2021 files write N: read as empty).",
    'hvfhs_license_num': 'The TLC license number of the High Volume FHV company: HV0002 Juno, HV0003 Uber, '
    'HV0004 Via, HV0005 Lyft.',
    'originating_base_num': 'The base number of the base that received the original trip request.',
    'request_datetime': 'The date and time when the passenger requested to be picked up.',
    'on_scene_datetime': 'The date and time when the driver arrived at the pick-up location (accessible vehicles).',
    'trip_miles': 'The total miles of the passenger trip.',
    'trip_time': 'The total time of the passenger trip, in seconds.',
    'base_passenger_fare': 'The base passenger fare before tolls, tips, taxes and fees.',
    'tolls': 'The total amount of all tolls paid in the trip.',
    'bcf': 'The amount collected for the Black Car Fund.',
    'sales_tax': 'The amount collected for New York State sales tax.',
    'tips': 'The total amount of tips received from the passenger.',
    'driver_pay': 'The total driver pay (not including tolls or tips, net of commission, surcharges or taxes).',
    'shared_request_flag': 'Y when the passenger agreed to a shared/pooled ride, whether or not matched; N otherwise.',
    'shared_match_flag': 'Y when the passenger shared the vehicle with another passenger booked separately; '
    'N otherwise.',
    'access_a_ride_flag': "Y when the trip was administered on behalf of the MTA's Access-A-Ride; N otherwise.",
    'wav_request_flag': 'Y when the passenger requested a wheelchair-accessible vehicle; N otherwise.',
    'wav_match_flag': 'Y when the trip took place in a wheelchair-accessible vehicle; N otherwise.',
    'source_month': "The month of the release file the row came from; a month's load replaces exactly these rows.",
    'pickup_date': "The pickup's date (the date of the pickup time): the homework's GCS partition column.",
}
_OTHER_DESCRIPTIONS: dict[str, str] = {
    # the zone lookup (dim_zones)
    'location_id': 'The TLC Taxi Zone id (LocationID of the zone lookup).',
    'borough': "The zone's borough ('Unknown' for zones 264 NV and 265 NA).",
    'zone': "The zone's name.",
    'service_zone': "The zone's service zone (Yellow Zone, Boro Zone, Airports, EWR, N/A).",
    # fact_trips
    'service_type': "The trip's service: 'Green' or 'Yellow'.",
    'pickup_location_id': 'The TLC Taxi Zone in which the taximeter was engaged.',
    'pickup_borough': "The pickup zone's borough.",
    'pickup_zone': "The pickup zone's name.",
    'dropoff_location_id': 'The TLC Taxi Zone in which the taximeter was disengaged.',
    'dropoff_borough': "The drop-off zone's borough.",
    'dropoff_zone': "The drop-off zone's name.",
    # dm_monthly_zone_revenue and its per-source-month sums
    'revenue_zone': "The pickup zone's name (the course groups the mart by name).",
    'revenue_month': 'The month of the pickup.',
    'total_monthly_trips': 'The number of trips.',
    'avg_monthly_passenger_count': 'The average passenger_count of the trips.',
    'avg_monthly_trip_distance': 'The average trip_distance of the trips, in miles.',
    'passenger_count_sum': 'The sum of passenger_count (for the average).',
    'passenger_count_trips': 'The trips with a passenger_count (for the average).',
    'trip_distance_sum': 'The sum of trip_distance (for the average).',
    'trip_distance_trips': 'The trips with a trip_distance (for the average).',
}
_MONEY_SUMS = {
    'fare': 'fare_amount',
    'extra': 'extra',
    'mta_tax': 'mta_tax',
    'tip_amount': 'tip_amount',
    'tolls_amount': 'tolls_amount',
    'ehail_fee': 'ehail_fee',
    'improvement_surcharge': 'improvement_surcharge',
    'total_amount': 'total_amount',
    'congestion_surcharge': 'congestion_surcharge',
}


def describe(column: str) -> str | None:
    """What a column of the project's tables means (trips, zones, marts), or None."""
    if column in _OTHER_DESCRIPTIONS:
        return _OTHER_DESCRIPTIONS[column]
    if column.startswith('revenue_monthly_') and column.removeprefix('revenue_monthly_') in _MONEY_SUMS:
        money = _MONEY_SUMS[column.removeprefix('revenue_monthly_')]
        return f'The sum of {money} over the trips: {_TRIP_DESCRIPTIONS[money]}'
    return _TRIP_DESCRIPTIONS.get(re.sub(r'^[tl]pep_', '', column))
