"""Build samples/ for the FHV/FHVHV services and the TLC's parquet release from ../shared/data.

Every row is a real TLC row; nothing is invented or edited (samples/PROVENANCE.md says what each
file is). Run it again to rebuild them byte for byte (tests/test_project.py checks that):

    samples/trip-data/green_tripdata_<month>.parquet   the TLC's own files, copied byte for byte
    samples/fhv/fhv_tripdata_2019-MM.csv.gz           the first 100 lines of each TLC FHV CSV month
    samples/fhvhv/fhvhv_tripdata_2019-MM.csv.gz       the first 100 lines of each TLC FHVHV CSV month
    samples/trip-data/{yellow,fhv,fhvhv}_...parquet   CONVERTED: one month of the CSV rows above
                                                      written as parquet (the TLC's column names,
                                                      the types its parquet has), for the tlc
                                                      source offline: no parquet of these is bundled
    samples/green/green_tripdata_2020-{11,12}.csv.gz  CONVERTED: a student's parquet of the course's
                                                      CSVs (../shared/data/course_q4) written back
                                                      in the course's CSV layout: the homework's
                                                      quarter offline

    .venv/bin/python scripts/dev/bundle_samples.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import shutil
import sys
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from utils.domain.schema_drift import conform, match_columns  # noqa: E402
from utils.domain.taxi_schema import schema_for  # noqa: E402

GREEN_PARQUET = ('2021-01', '2023-01', '2023-02', '2025-01')
CSV_MONTHS = {  # service -> (the shared file of first-100-lines months, the months bundled)
    'fhv': ('fhv_tripdata_2019-01_to_2020-06_first100each.csv', [f'2019-{m:02d}' for m in range(1, 13)]),
    'fhvhv': ('fhvhv_tripdata_2019-02_to_2020-06_first100each.csv', [f'2019-{m:02d}' for m in range(2, 13)]),
}
CONVERTED = {'fhv': '2019-01', 'fhvhv': '2019-02'}
HOMEWORK_MONTHS = ('2020-11', '2020-12')  # green 2020-10 is bundled as the course's own file
# The course's integer codes, which pandas stored as double (NaN for its empty cells).
COURSE_INTEGER_CODES = ('VendorID', 'RatecodeID', 'passenger_count', 'payment_type', 'trip_type')


def csv_months(path: Path) -> tuple[str, dict[str, list[str]]]:
    """(header line, {YYYY-MM: its lines}) of a first-100-lines file, by the pickup's month."""
    lines = path.read_text().splitlines(keepends=True)
    header, by_month = lines[0], defaultdict(list)
    pickup = next(csv.reader([header])).index('pickup_datetime')
    for line in lines[1:]:
        by_month[next(csv.reader([line]))[pickup][:7]].append(line)
    return header, by_month


def write_gzip(dest: Path, text: str) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, 'wb') as raw, gzip.GzipFile(fileobj=raw, mode='wb', compresslevel=9, mtime=0, filename='') as f:
        f.write(text.encode())


def as_parquet(service: str, csv_text: bytes, dest: Path) -> int:
    """The CSV rows as parquet under their own column names, each in its service's type (the
    columns the CSV has, no more)."""
    schema = schema_for(service)
    header = next(csv.reader([csv_text.split(b'\n', 1)[0].decode()]))
    matched = match_columns(header, schema, str(dest))
    table = pacsv.read_csv(
        io.BytesIO(csv_text),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in header}, strings_can_be_null=True),
    )
    typed = pa.Table.from_batches(
        [conform(b, schema, matched, str(dest)) for b in table.to_batches()], schema=schema.arrow_schema()
    )
    kept = typed.select([matched[n] for n in header]).rename_columns(header)
    dest.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(kept, dest, compression='zstd')
    return kept.num_rows


def course_csv(parquet: Path) -> str:
    """A student's parquet of a course CSV month as the course's CSV text: the same header and
    column order, datetimes as the text they were, the integer codes as integers, empty for null.
    The course's own number text (`.79`) is not recoverable: Python's shortest repr (`0.79`)."""
    table = pq.read_table(parquet)
    header = list(table.column_names)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    writer.writerow(header)
    columns = [table.column(name).to_pylist() for name in header]
    for values in zip(*columns, strict=True):
        writer.writerow(_course_cell(name, v) for name, v in zip(header, values, strict=True))
    return out.getvalue()


def _course_cell(name: str, value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):  # NaN: pandas' empty cell
        return ''
    if isinstance(value, float):
        if name in COURSE_INTEGER_CODES or name in ('PULocationID', 'DOLocationID'):
            if not value.is_integer():
                raise ValueError(f'{name}={value!r} is not a whole number')
            return str(int(value))
        return repr(value).removesuffix('.0')  # 5.0 -> 5, as the course's files write it
    return str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--shared', type=Path, default=REPO.parent / 'shared' / 'data')
    parser.add_argument('--out', type=Path, default=REPO / 'samples')
    args = parser.parse_args()
    tlc = args.shared / 'tlc'
    for month in GREEN_PARQUET:
        name = f'green_tripdata_{month}.parquet'
        (args.out / 'trip-data').mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tlc / name, args.out / 'trip-data' / name)
    for service, (shared, months) in CSV_MONTHS.items():
        header, by_month = csv_months(tlc / shared)
        for month in months:
            write_gzip(args.out / service / f'{service}_tripdata_{month}.csv.gz', header + ''.join(by_month[month]))
        month = CONVERTED[service]
        rows = as_parquet(
            service,
            (header + ''.join(by_month[month])).encode(),
            args.out / 'trip-data' / f'{service}_tripdata_{month}.parquet',
        )
        print(f'{service}: {len(months)} CSV months, {month} as parquet ({rows} rows)')
    for month in HOMEWORK_MONTHS:
        text = course_csv(args.shared / 'course_q4' / f'green_tripdata_{month}.parquet')
        write_gzip(args.out / 'green' / f'green_tripdata_{month}.csv.gz', text)
        print(f'green: {month} from course_q4 as the course CSV ({text.count(chr(10)) - 1:,} rows)')
    yellow = gzip.decompress((args.out / 'yellow' / 'yellow_tripdata_2021-01.csv.gz').read_bytes())
    rows = as_parquet('yellow', yellow, args.out / 'trip-data' / 'yellow_tripdata_2021-01.parquet')
    print(f'yellow: 2021-01 as parquet ({rows} rows); green: {len(GREEN_PARQUET)} TLC parquet months')


if __name__ == '__main__':
    main()
