import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import GREEN_MONTH
from course_oracle import course_clean

from utils.domain.cleaning import clean_file
from utils.domain.taxi_files import csv_to_parquet
from utils.domain.taxi_schema import schema_for
from utils.domain.taxi_source import TaxiMonth
from utils.sinks.environment import ConfigError, google_target, storage_client
from utils.sinks.gcs_io import (
    CloudError,
    is_month_partition_file,
    month_partition_objects,
    open_bucket,
    parquet_rows_in_gcs,
    upload_file,
    upload_month_partitions,
    write_partitions,
)

GREEN = schema_for('green')
OCT = TaxiMonth('green', 2020, 10)


@pytest.fixture(scope='module')
def green_clean(tmp_path_factory):
    folder = tmp_path_factory.mktemp('green')
    csv_to_parquet(GREEN_MONTH, folder / 'raw.parquet', GREEN, 'green')
    clean_file(folder / 'raw.parquet', folder / 'clean.parquet', GREEN)
    return folder / 'clean.parquet'


def expected_days():
    cleaned = course_clean(GREEN_MONTH, 'green')
    return cleaned['lpep_pickup_datetime'].dt.strftime('%Y-%m-%d').value_counts().to_dict()


def test_partitions_are_the_pickup_dates_of_the_clean_rows(green_clean, tmp_path):
    files = write_partitions(green_clean, tmp_path, GREEN, OCT)
    days: dict[str, int] = {}
    for relative, rows in files.items():
        folder, name = relative.split('/')
        assert folder.startswith('pickup_date=') and name.startswith('green_tripdata_2020-10-')
        days[folder.removeprefix('pickup_date=')] = days.get(folder.removeprefix('pickup_date='), 0) + rows
    assert days == expected_days()
    one = pq.read_table(tmp_path / sorted(files)[0])
    assert one.schema.field('lpep_pickup_datetime').type == pa.timestamp('us')
    assert 'pickup_date' not in one.schema.names  # lives in the folder name (hive layout)


def test_month_file_names():
    assert is_month_partition_file(
        'nyc_taxi/green_partitioned/pickup_date=2020-10-01/green_tripdata_2020-10-0.parquet', OCT
    )
    assert not is_month_partition_file(
        'nyc_taxi/green_partitioned/pickup_date=2020-10-01/green_tripdata_2020-11-0.parquet', OCT
    )
    assert not is_month_partition_file('nyc_taxi/green/green_tripdata_2020-10.parquet', OCT)


def test_upload_replaces_the_month_and_keeps_other_months(cloud_env, green_clean, tmp_path):
    bucket = open_bucket(storage_client(), google_target().bucket)
    first = upload_month_partitions(bucket, green_clean, GREEN, OCT)
    assert len({n.split('/')[2] for n in first}) == len(expected_days())
    # a file of another month in the same pickup_date folder, and a stale one of this month
    other = 'nyc_taxi/green_partitioned/pickup_date=2020-10-01/green_tripdata_2020-09-0.parquet'
    stale = 'nyc_taxi/green_partitioned/pickup_date=1999-01-01/green_tripdata_2020-10-0.parquet'
    for name in (other, stale):
        upload_file(bucket, green_clean, name)
    again = upload_month_partitions(bucket, green_clean, GREEN, OCT)
    assert again == first
    assert month_partition_objects(bucket, OCT) == sorted(first)
    assert bucket.blob(other).exists() and not bucket.blob(stale).exists()
    assert sum(parquet_rows_in_gcs(bucket, n) for n in again) == 52_351


def test_parquet_round_trip_through_the_bucket(cloud_env, green_clean, tmp_path):
    bucket = open_bucket(storage_client(), google_target().bucket)
    upload_file(bucket, green_clean, 'x/green.parquet')
    bucket.blob('x/green.parquet').download_to_filename(tmp_path / 'back.parquet')
    assert pq.read_table(tmp_path / 'back.parquet').equals(pq.read_table(green_clean))
    assert parquet_rows_in_gcs(bucket, 'x/green.parquet') == 52_351


def test_missing_bucket_is_named(cloud_env):
    with pytest.raises(ConfigError, match="GCS bucket 'no-such-bucket' does not exist"):
        open_bucket(storage_client(), 'no-such-bucket')


def test_unreachable_emulator_fails_at_once(cloud_env, monkeypatch):
    from scripts.stack.processes import free_port

    monkeypatch.setenv('GCS_EMULATOR_URL', f'http://127.0.0.1:{free_port()}')
    with pytest.raises(CloudError, match="cannot reach Google Cloud Storage for bucket 'nyc-taxi-"):
        open_bucket(storage_client(), google_target().bucket)


def test_partition_files_are_byte_identical_on_rerun(green_clean, tmp_path):
    first = write_partitions(green_clean, tmp_path / 'a', GREEN, OCT)
    second = write_partitions(green_clean, tmp_path / 'b', GREEN, OCT)
    assert first == second
    for relative in first:
        assert (tmp_path / 'a' / relative).read_bytes() == (tmp_path / 'b' / relative).read_bytes(), relative


def test_gcs_gone_mid_upload_names_the_object_and_a_rerun_gives_the_exact_month(
    cloud_env, gcs_emulator, green_clean, tmp_path, monkeypatch
):
    """A real fault: the emulator is reached through a proxy that goes away after half of the
    month's partition bytes. The earlier version of the month was there before; the failed run
    leaves a mix of both (GCS has no multi-object transaction, the README says so), and the
    rerun leaves exactly the new month: the same names and bytes as files written locally."""
    import base64
    import hashlib

    from google.api_core.retry import Retry
    from support.cutting_proxy import CuttingProxy

    earlier = tmp_path / 'earlier.parquet'
    pq.write_table(pq.read_table(green_clean).slice(0, 20_000), earlier)
    bucket = open_bucket(storage_client(), google_target().bucket)
    upload_month_partitions(bucket, earlier, GREEN, OCT)
    before = {b.name: b.md5_hash for b in bucket.list_blobs()}

    local = write_partitions(green_clean, tmp_path / 'local', GREEN, OCT)
    expected = {
        f'nyc_taxi/green_partitioned/{relative}': base64.b64encode(
            hashlib.md5((tmp_path / 'local' / relative).read_bytes()).digest()
        ).decode()
        for relative in local
    }
    total = sum((tmp_path / 'local' / relative).stat().st_size for relative in local)
    with CuttingProxy(int(gcs_emulator[0].rsplit(':', 1)[1]), cut_after=total // 2) as proxy:
        monkeypatch.setenv('GCS_EMULATOR_URL', proxy.url)
        through_proxy = open_bucket(storage_client(), google_target().bucket)
        with pytest.raises(
            CloudError,
            match=r'uploading green_tripdata_2020-10-0\.parquet to gs://nyc-taxi-\S+/'
            r'nyc_taxi/green_partitioned/pickup_date=2020-10-\d\d/.* failed',
        ):
            upload_month_partitions(through_proxy, green_clean, GREEN, OCT, retry=Retry(timeout=3))
        assert proxy.is_cut.is_set()
    monkeypatch.setenv('GCS_EMULATOR_URL', gcs_emulator[0])
    mixed = {b.name: b.md5_hash for b in bucket.list_blobs()}
    assert mixed != before and mixed != expected  # partly new, partly old

    upload_month_partitions(bucket, green_clean, GREEN, OCT)
    assert {b.name: b.md5_hash for b in bucket.list_blobs()} == expected
