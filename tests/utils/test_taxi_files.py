import gzip

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import GREEN_MONTH, YELLOW_SAMPLE

from utils.domain.taxi_files import ROW_GROUP_ROWS, BadFileError, bad_rows, csv_to_parquet
from utils.domain.taxi_schema import schema_for
from utils.sinks.environment import REPO_ROOT


def _gz(tmp_path, text: str, name='f.csv.gz'):
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()))
    return path


def test_real_month_parses_like_pandas(tmp_path):
    import pandas as pd
    from course_oracle import COURSE_TAXI_DTYPES, GREEN_EXTRA

    dest = tmp_path / 'raw.parquet'
    rows = csv_to_parquet(GREEN_MONTH, dest, schema_for('green'), 'green')
    ours = pq.read_table(dest).to_pandas()
    theirs = pd.read_csv(
        GREEN_MONTH,
        dtype={**COURSE_TAXI_DTYPES, **GREEN_EXTRA},
        parse_dates=['lpep_pickup_datetime', 'lpep_dropoff_datetime'],
    )
    assert rows == len(theirs) == 95_120
    # the course's 20 columns, then the one the TLC added in 2025, NULL in a course month
    assert list(ours.columns) == [*list(theirs.columns), 'cbd_congestion_fee']
    assert ours['cbd_congestion_fee'].isna().all()
    for column in theirs.columns:
        if column == 'store_and_fwd_flag':
            assert ours[column].fillna('').tolist() == theirs[column].fillna('').tolist()
        elif column.endswith('datetime'):
            assert (ours[column].astype('datetime64[ns]') == theirs[column]).all(), column
        else:
            pd.testing.assert_series_equal(ours[column], theirs[column], check_dtype=False, obj=column)


def test_parquet_types(tmp_path):
    dest = tmp_path / 'raw.parquet'
    csv_to_parquet(YELLOW_SAMPLE, dest, schema_for('yellow'), 'y')
    schema = pq.read_schema(dest)
    assert schema.field('tpep_pickup_datetime').type == pa.timestamp('us')
    assert schema.field('VendorID').type == pa.int64()
    assert schema.field('store_and_fwd_flag').type == pa.string()


COURSE_YELLOW = [c for c in schema_for('yellow').columns if c not in ('airport_fee', 'cbd_congestion_fee')]


def test_integers_written_as_floats_are_accepted(tmp_path):
    header = ','.join(COURSE_YELLOW)
    row = '1.0,2021-01-01 00:00:00,2021-01-01 00:10:00,2.0,1.5,1.0,N,1,2,1,5,0,0.5,0,0,0.3,6.3,2.5'
    dest = tmp_path / 'raw.parquet'
    csv_to_parquet(_gz(tmp_path, f'{header}\n{row}\n'), dest, schema_for('yellow'), 'y')
    assert pq.read_table(dest).column('passenger_count').to_pylist() == [2]


@pytest.mark.parametrize(
    'header_change, message',
    [
        (lambda cols: [c for c in cols if c != 'fare_amount'], r'missing column\(s\) fare_amount$'),
        (lambda cols: [*cols, 'tip_jar'], r'unexpected column\(s\) tip_jar$'),
        (lambda cols: ['vendor_id', *cols[1:]], r'missing column\(s\) VendorID; unexpected column\(s\) vendor_id$'),
        (lambda cols: [*cols, 'Extra'], r'column\(s\) given twice \(names differ only by case\) Extra$'),
    ],
)
def test_header_mismatch_names_the_columns(tmp_path, header_change, message):
    header = ','.join(header_change(COURSE_YELLOW))
    dest = tmp_path / 'raw.parquet'
    with pytest.raises(
        BadFileError,
        match='^the-url: its columns do not match the yellow taxi schema '
        rf'\(utils/domain/taxi_schema.py\): {message}',
    ):
        csv_to_parquet(_gz(tmp_path, header + '\n'), dest, schema_for('yellow'), 'the-url')
    assert not dest.exists() and list(tmp_path.glob('*.part')) == []


@pytest.mark.parametrize(
    'bad_field, expected',
    [
        ({'fare_amount': 'abc'}, "line 4, column fare_amount: 'abc' is not a valid float"),
        ({'tpep_pickup_datetime': '2021-13-45 99:00:00'}, 'line 4, column tpep_pickup_datetime'),
        ({'passenger_count': '1.5'}, "line 4, column passenger_count: '1.5' is not a valid int"),
    ],
)
def test_bad_value_names_line_and_column(tmp_path, bad_field, expected):
    lines = gzip.decompress(YELLOW_SAMPLE.read_bytes()).decode().splitlines()
    header = lines[0].split(',')
    fields = lines[3].split(',')
    for column, value in bad_field.items():
        fields[header.index(column)] = value
    lines[3] = ','.join(fields)
    dest = tmp_path / 'raw.parquet'
    with pytest.raises(BadFileError, match=f'^u: {expected}'):
        csv_to_parquet(_gz(tmp_path, '\n'.join(lines) + '\n'), dest, schema_for('yellow'), 'u')
    assert not dest.exists()


def test_wrong_field_count_names_the_line(tmp_path):
    lines = gzip.decompress(YELLOW_SAMPLE.read_bytes()).decode().splitlines()
    lines[10] += ',42'
    with pytest.raises(BadFileError, match=r'^u: line 11 has 19 fields, the header has 18'):
        csv_to_parquet(_gz(tmp_path, '\n'.join(lines) + '\n'), tmp_path / 'r.parquet', schema_for('yellow'), 'u')


def test_truncated_gzip(tmp_path):
    data = GREEN_MONTH.read_bytes()
    path = tmp_path / 'cut.csv.gz'
    path.write_bytes(data[: len(data) // 2])
    dest = tmp_path / 'raw.parquet'
    with pytest.raises(BadFileError, match=r'^u: the gzip stream is damaged or truncated'):
        csv_to_parquet(path, dest, schema_for('green'), 'u')
    assert not dest.exists()


def test_clean_file_has_no_bad_row():
    assert list(bad_rows(YELLOW_SAMPLE, schema_for('yellow'))) == []


def _sample_with_bad_lines(tmp_path):
    """The yellow sample with a text fare on line 4, a wrong field count on line 11 and an
    impossible date on line 600."""
    lines = gzip.decompress(YELLOW_SAMPLE.read_bytes()).decode().splitlines()
    header = lines[0].split(',')
    fields = lines[3].split(',')
    fields[header.index('fare_amount')] = 'abc'
    lines[3] = ','.join(fields)
    lines[10] += ',42'
    fields = lines[599].split(',')
    fields[header.index('tpep_dropoff_datetime')] = '2021-02-30 10:00:00'
    lines[599] = ','.join(fields)
    return _gz(tmp_path, '\n'.join(lines) + '\n'), lines


def test_malformed_rows_are_kept_aside_and_the_rest_loads(tmp_path):
    import csv as csvmod

    from utils.domain.taxi_files import csv_to_parquet_keeping_rejects

    path, lines = _sample_with_bad_lines(tmp_path)
    dest = tmp_path / 'raw.parquet'
    result = csv_to_parquet_keeping_rejects(path, dest, schema_for('yellow'), 'u', max_reject_ratio=0.01)
    assert result['rows'] == pq.ParquetFile(dest).metadata.num_rows == 1197 - 3
    assert result['rows_rejected'] == 3
    with open(result['rejects_path']) as f:
        rejects = list(csvmod.DictReader(f))
    assert [int(r['line']) for r in rejects] == [4, 11, 600]
    assert rejects[0]['reason'] == "line 4, column fare_amount: 'abc' is not a valid float"
    assert rejects[1]['reason'] == 'line 11 has 19 fields, the header has 18'
    assert 'tpep_dropoff_datetime' in rejects[2]['reason']
    assert [r['text'] for r in rejects] == [lines[3], lines[10], lines[599]]
    assert not (tmp_path / 'accepted.csv.gz').exists()


def test_too_many_malformed_rows_fail_the_file(tmp_path):
    from utils.domain.taxi_files import MalformedRowsError, csv_to_parquet_keeping_rejects

    path, _ = _sample_with_bad_lines(tmp_path)
    dest = tmp_path / 'raw.parquet'
    with pytest.raises(
        MalformedRowsError,
        match=r'^u: 3 of 1,197 rows are malformed, more than max_reject_ratio=0.001 allows; '
        r'the first: line 4, column fare_amount',
    ):
        csv_to_parquet_keeping_rejects(path, dest, schema_for('yellow'), 'u', max_reject_ratio=0.001)
    assert not dest.exists()


def test_clean_files_have_no_rejects_file(tmp_path):
    from utils.domain.taxi_files import csv_to_parquet_keeping_rejects

    result = csv_to_parquet_keeping_rejects(YELLOW_SAMPLE, tmp_path / 'raw.parquet', schema_for('yellow'), 'u', 0.01)
    assert result == {'rows': 1197, 'rows_rejected': 0, 'rejects_path': None}
    assert not (tmp_path / 'rejects.csv').exists()


def test_row_groups_are_regrouped_and_empty_batches_skipped(tmp_path):
    from utils.domain.taxi_files import ROW_GROUP_ROWS, parquet_writer

    schema = pa.schema([('a', pa.int64())])
    with parquet_writer(tmp_path / 'x.parquet', schema) as writer:
        for start in range(0, 100_000, 1000):
            writer.write_batch(pa.RecordBatch.from_pydict({'a': list(range(start, start + 1000))}, schema=schema))
            writer.write_batch(pa.RecordBatch.from_pydict({'a': []}, schema=schema))
    meta = pq.ParquetFile(tmp_path / 'x.parquet').metadata
    assert meta.num_rows == 100_000
    assert meta.num_row_groups == -(-100_000 // ROW_GROUP_ROWS)
    with parquet_writer(tmp_path / 'empty.parquet', schema):
        pass
    assert pq.read_table(tmp_path / 'empty.parquet').num_rows == 0


def test_a_failed_write_stops_the_producer_and_leaves_no_file(tmp_path):
    """write_parquet writes in a background thread: its failure must reach the caller and stop
    the batches being produced, and dest must not appear."""
    from utils.domain.taxi_files import write_parquet

    schema = pa.schema([('a', pa.int64())])
    produced = []

    def batches():
        for i in range(1000):
            produced.append(i)
            values = {'a': [i] * 10_000} if i != 5 else {'b': [i] * 10_000}  # batch 5 does not fit the file
            yield pa.RecordBatch.from_pydict(values)

    with pytest.raises(ValueError, match='Schema at index 1 was different'):
        write_parquet(tmp_path / 'x.parquet', schema, batches())
    assert len(produced) < 20
    assert list(tmp_path.iterdir()) == []


def test_reading_a_parquet_file_holds_one_row_group_not_the_file(tmp_path):
    """Arrow's peak while iter_parquet_batches reads a 100-row-group file stays near one row
    group's size (pyarrow's default pre_buffer kept every group read: memory grew with the month).
    In a fresh process, so the allocator's peak is this read's alone."""
    import subprocess
    import sys

    code = """
import sys
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
from utils.domain.taxi_files import iter_parquet_batches, ROW_GROUP_ROWS
path = sys.argv[1]
group = pa.table({f'c{i}': np.random.default_rng(i).random(ROW_GROUP_ROWS) for i in range(8)})  # 2 MB a group
with pq.ParquetWriter(path, group.schema, compression='none') as w:
    for _ in range(100):
        w.write_table(group)
del group
pool = pa.default_memory_pool()
before = pool.max_memory()
rows = sum(b.num_rows for b in iter_parquet_batches(path))
print(rows, pool.max_memory(), before)
"""
    done = subprocess.run(
        [sys.executable, '-c', code, str(tmp_path / 'many-groups.parquet')], capture_output=True, text=True, check=True
    )
    rows, peak, _ = map(int, done.stdout.split())
    group_bytes = 8 * 8 * ROW_GROUP_ROWS
    assert rows == 100 * ROW_GROUP_ROWS
    assert peak < 10 * group_bytes, (
        f'{peak / 1e6:.0f} MB of Arrow memory to read a file of {100 * group_bytes / 1e6:.0f} MB'
    )


def test_first_rows_reads_one_small_batch_as_a_dataframe(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from utils.domain.taxi_files import first_rows
    from utils.steps.taxi_pipeline import loader_output, manifest_of

    path = tmp_path / 'raw.parquet'
    pq.write_table(pa.table({'trip': list(range(1000)), 'fare': [1.5] * 1000}), path, row_group_size=100)
    head = first_rows(path)
    assert list(head.columns) == ['trip', 'fare'] and head['trip'].tolist() == list(range(10))
    empty = tmp_path / 'empty.parquet'
    pq.write_table(pa.table({'trip': pa.array([], pa.int64())}), empty)
    assert list(first_rows(empty).columns) == ['trip'] and len(first_rows(empty)) == 0
    manifest = {'raw_path': str(path)}
    assert loader_output(manifest, {'env': 'prod'}) is manifest  # a pipeline run: the manifest alone
    in_editor = loader_output(manifest, {'env': 'dev'})
    assert in_editor[0] is manifest and in_editor[1]['trip'].tolist() == list(range(10))
    assert manifest_of(in_editor) is manifest_of(manifest) is manifest


# SR_Flag over the years, on real lines: the TLC's 2019 FHVHV CSV writes 1 (shared) or nothing,
# the course's fhvhv 2021-06 writes N (samples/PROVENANCE.md). Read: 1, and NULL for not shared.
FHVHV_2019 = REPO_ROOT / 'samples' / 'fhvhv' / 'fhvhv_tripdata_2019-02.csv.gz'
FHVHV_2021 = REPO_ROOT / 'samples' / 'fhvhv' / 'fhvhv_tripdata_2021-06.csv.gz'


@pytest.mark.parametrize('path, written', [(FHVHV_2019, {'', '1'}), (FHVHV_2021, {'N'})])
def test_sr_flag_of_each_year_reads_as_1_or_null(tmp_path, path, written):
    import csv as csvmod

    with gzip.open(path, 'rt') as f:
        flags = [r['SR_Flag'] for r in csvmod.DictReader(f)]
    assert set(flags) == written  # what the year's file really holds
    dest = tmp_path / 'raw.parquet'
    assert csv_to_parquet(path, dest, schema_for('fhvhv'), 'u') == len(flags)
    table = pq.read_table(dest)
    assert table.schema.field('SR_Flag').type == pa.int64()
    assert table.column('SR_Flag').to_pylist() == [1 if f == '1' else None for f in flags]


def test_sr_flag_yes_in_each_spelling_is_1_and_another_value_is_a_rejected_row(tmp_path):
    """1 / 1.0 / Y (shared) are 1; a value that is neither a yes nor a no is the row's reject,
    naming its line and column, never a silent NULL."""
    import csv as csvmod

    from utils.domain.taxi_files import csv_to_parquet_keeping_rejects

    lines = gzip.decompress(FHVHV_2021.read_bytes()).decode().splitlines()
    lines[1] = lines[1].replace(',N,', ',1,')
    lines[2] = lines[2].replace(',N,', ',1.0,')
    lines[3] = lines[3].replace(',N,', ',y,')
    lines[4] = lines[4].replace(',N,', ',2,')
    dest = tmp_path / 'raw.parquet'
    result = csv_to_parquet_keeping_rejects(
        _gz(tmp_path, '\n'.join(lines) + '\n'), dest, schema_for('fhvhv'), 'u', max_reject_ratio=0.5
    )
    assert (result['rows'], result['rows_rejected']) == (9, 1)
    assert pq.read_table(dest).column('SR_Flag').to_pylist() == [1, 1, 1] + [None] * 6
    with open(result['rejects_path']) as f:
        (reject,) = csvmod.DictReader(f)
    assert reject['reason'] == "line 5, column SR_Flag: '2' is not a valid flag"
    assert reject['text'] == lines[4]


def test_a_parquet_sr_flag_of_doubles_reads_and_another_value_refuses_the_file(tmp_path):
    """The TLC's FHV parquet stores SR_Flag as a double (1.0 or null); 2.0 refuses the file,
    naming it, the column and the value."""
    from utils.domain.taxi_files import tlc_parquet_to_raw

    source = pq.read_table(REPO_ROOT / 'samples' / 'trip-data' / 'fhv_tripdata_2019-01.parquet')
    flags = [1.0 if i % 3 == 0 else None for i in range(source.num_rows)]
    good = tmp_path / 'good.parquet'
    pq.write_table(source.set_column(source.schema.get_field_index('SR_Flag'), 'SR_Flag', pa.array(flags)), good)
    assert tlc_parquet_to_raw(good, tmp_path / 'raw.parquet', schema_for('fhv'), 'u') == source.num_rows
    assert pq.read_table(tmp_path / 'raw.parquet').column('SR_Flag').to_pylist() == [1 if f else None for f in flags]
    flags[5] = 2.0
    bad = tmp_path / 'bad.parquet'
    pq.write_table(source.set_column(source.schema.get_field_index('SR_Flag'), 'SR_Flag', pa.array(flags)), bad)
    with pytest.raises(BadFileError, match=r'^fhv 2019-01: column SR_Flag: 2\.0 is not a valid flag'):
        tlc_parquet_to_raw(bad, tmp_path / 'raw2.parquet', schema_for('fhv'), 'fhv 2019-01')
    assert not (tmp_path / 'raw2.parquet').exists()


def _latin1_fhv(tmp_path):
    """The real fhv 2019-01 lines (samples/fhv), with line 3's base number given an É written in
    latin-1 (byte c9): SYNTHETIC, for the course FAQ's UnicodeDecodeError on a file not in utf-8."""
    lines = gzip.decompress((REPO_ROOT / 'samples' / 'fhv' / 'fhv_tripdata_2019-01.csv.gz').read_bytes()).split(b'\n')
    lines[2] = lines[2].replace(b'B00001', b'B0000\xc9', 1)
    path = tmp_path / 'fhv_tripdata_2019-01.csv.gz'
    path.write_bytes(gzip.compress(b'\n'.join(lines)))
    return path, len([line for line in lines[1:] if line])


def test_a_file_not_in_utf8_is_refused_naming_the_line_and_the_variable(tmp_path):
    from utils.domain.taxi_files import EncodingError, csv_to_parquet_keeping_rejects

    src, _ = _latin1_fhv(tmp_path)
    with pytest.raises(EncodingError) as refused:
        csv_to_parquet_keeping_rejects(src, tmp_path / 'raw.parquet', schema_for('fhv'), 'fhv 2019-01', 0.5)
    assert str(refused.value) == (
        'fhv 2019-01: line 3 is not utf-8 text: byte c9 at column 6 (invalid continuation byte); a file in '
        'another encoding loads with the pipeline variable encoding set to it (e.g. "encoding": "latin-1")'
    )
    assert not (tmp_path / 'raw.parquet').exists() and not (tmp_path / 'rejects.csv').exists()  # nothing half written


@pytest.mark.parametrize('encoding', ['latin-1', 'ISO-8859-1', 'cp1252'])
def test_a_file_in_the_encoding_it_is_told_loads_whole(tmp_path, encoding):
    from utils.domain.taxi_files import csv_to_parquet_keeping_rejects

    src, lines = _latin1_fhv(tmp_path)
    parsed = csv_to_parquet_keeping_rejects(
        src, tmp_path / 'raw.parquet', schema_for('fhv'), 'fhv 2019-01', 0.01, encoding
    )
    assert (parsed['rows'], parsed['rows_rejected']) == (lines, 0)
    bases = pq.read_table(tmp_path / 'raw.parquet').column('dispatching_base_num').to_pylist()
    assert bases[1] == 'B0000É' and bases[0] == 'B00001'


def test_a_malformed_row_of_a_latin1_file_is_a_reject_and_the_rest_loads_in_utf8(tmp_path):
    """The slow path (a bad row: the file is split into rejects and accepted lines) reads in the
    encoding too, and writes the accepted lines in utf-8 for the second read."""
    from utils.domain.taxi_files import csv_to_parquet_keeping_rejects

    src, lines = _latin1_fhv(tmp_path)
    text = gzip.decompress(src.read_bytes()).split(b'\n')
    text[4] = text[4].replace(b'2019-01-01', b'2019-13-01', 1)  # SYNTHETIC: a date no calendar has
    src.write_bytes(gzip.compress(b'\n'.join(text)))
    parsed = csv_to_parquet_keeping_rejects(src, tmp_path / 'raw.parquet', schema_for('fhv'), 'fhv', 0.5, 'latin-1')
    assert (parsed['rows'], parsed['rows_rejected']) == (lines - 1, 1)
    assert pq.read_table(tmp_path / 'raw.parquet').column('dispatching_base_num').to_pylist()[1] == 'B0000É'


def test_an_encoding_python_does_not_know_names_the_variable():
    from utils.domain.taxi_files import check_encoding

    assert check_encoding('latin-1') == 'iso8859-1' and check_encoding('UTF8') == 'utf-8'
    with pytest.raises(ValueError, match=r"pipeline variable encoding='klingon' is not an encoding Python knows"):
        check_encoding('klingon')
