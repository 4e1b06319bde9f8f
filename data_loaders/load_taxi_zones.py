"""The taxi zone lookup (<NYC_TLC_BASE_URL>/misc/taxi_zone_lookup.csv), checked line by line:
a missing column, a LocationID that is not a whole number or one given twice fails the run
naming the line. 'NV' and 'NA' (zones 264, 265) stay text.
"""

import pyarrow.parquet as pq

from utils.domain.zones import SCHEMA
from utils.steps.marts import load_zones

if 'data_loader' not in globals():
    from mage_ai.data_preparation.decorators import data_loader
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@data_loader
def load_taxi_zones(*args, **kwargs) -> dict:
    return load_zones(kwargs)


@test
def test_every_zone_once_with_its_names(manifest: dict, *args) -> None:
    zones = pq.read_table(manifest['zones_path'])
    assert zones.schema == SCHEMA and zones.num_rows == manifest['zones'] > 0
    ids = zones.column('location_id').to_pylist()
    assert len(set(ids)) == len(ids) and None not in ids
    assert zones.column('zone').null_count == 0, 'a zone name was read as missing (NA?)'
