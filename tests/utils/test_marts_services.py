"""The marts are the course's yellow and green ones: a FHV month is refused before dbt starts."""

import pytest

from utils.marts import check_source_month


@pytest.mark.parametrize('service', ['fhv', 'fhvhv'])
def test_a_fhv_month_is_refused_naming_the_services_the_marts_build(service):
    with pytest.raises(ValueError, match=rf"built from yellow and green trips.*service='{service}' has no mart yet"):
        check_source_month({}, {'service': service, 'year': 2019, 'month': 1, 'pipeline_uuid': 'postgres_marts'})
