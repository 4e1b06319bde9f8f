"""The steps `make bench` (scripts/bench/month_loads.py) measures, each in a process of its own:

python scripts/bench/month_steps.py course-way URL DSN_JSON      the course's api_to_postgres
python scripts/bench/month_steps.py course-imports               what it imports before reading
python scripts/bench/month_steps.py clean-month YEAR MONTH       our extract and clean steps
python scripts/bench/month_steps.py partitions-ours CLEAN OUT    our pickup_date partitions
python scripts/bench/month_steps.py partitions-duckdb CLEAN OUT  DuckDB's, on the same file
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from utils.domain.taxi_schema import schema_for  # noqa: E402


def course_way(url: str, dsn: dict) -> None:
    """The course's api_to_postgres, as its blocks do it, in this one process."""
    import pandas as pd
    from mage_ai.io.postgres import Postgres as MagePostgres

    schema = schema_for('yellow')
    data = pd.read_csv(url, sep=',', compression='gzip', dtype=schema.pandas_dtypes, parse_dates=schema.parse_dates)
    data = data[data['passenger_count'] > 0]
    with MagePostgres(**dsn) as loader:
        loader.export(data, 'bench', 'course_way', index=False, if_exists='replace')
    print(len(data))


def course_imports() -> None:
    """What the course way pays before it reads a byte: importing pandas and Mage's io."""
    import pandas  # noqa: F401
    from mage_ai.io.postgres import Postgres  # noqa: F401


def clean_month_file(year: str, month: str) -> None:
    """The month's clean.parquet made by the pipeline's own steps, kept for the partition steps
    in TAXI_WORK_DIR/bench/ (the step's own work folder goes when this process ends, as a run's
    does when it succeeds); its path is the last line printed."""
    from utils.sinks.environment import work_dir
    from utils.steps.taxi_pipeline import clean_month, extract_month

    clean = Path(clean_month(extract_month({'service': 'yellow', 'year': year, 'month': month}))['clean_path'])
    kept = work_dir() / 'bench' / f'clean_{year}_{int(month):02d}.parquet'
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clean, kept)
    print(kept)


def partitions_ours(clean: str, out: str) -> None:
    from utils.domain.taxi_source import TaxiMonth
    from utils.sinks.gcs_io import write_partitions

    files = write_partitions(Path(clean), Path(out), schema_for('yellow'), TaxiMonth('yellow', 2021, 1))
    print(len(files))


def partitions_duckdb(clean: str, out: str) -> None:
    import duckdb

    duckdb.sql(
        f"COPY (SELECT *, CAST(tpep_pickup_datetime AS DATE) AS pickup_date FROM read_parquet('{clean}')) "
        f"TO '{out}' (FORMAT parquet, PARTITION_BY (pickup_date), OVERWRITE_OR_IGNORE)"
    )


STEPS = {
    'course-way': lambda a: course_way(a[0], json.loads(a[1])),
    'clean-month': lambda a: clean_month_file(*a),
    'course-imports': lambda a: course_imports(),
    'partitions-ours': lambda a: partitions_ours(*a),
    'partitions-duckdb': lambda a: partitions_duckdb(*a),
}

if __name__ == '__main__':
    STEPS[sys.argv[1]](sys.argv[2:])
