"""`make backfill PIPELINE=<uuid> SERVICE=<service>[,<service>...] FROM=YYYY-MM TO=YYYY-MM [RELEASE=course|tlc] [CONFIRM=yes]`

SERVICE: yellow, green, fhv, fhvhv, or several (SERVICE=yellow,green: one backfill each, run
side by side). RELEASE: the release the runs read (their variable `source`; default TAXI_SOURCE).
A month whose source file has not changed since the pipeline last loaded it is skipped
(utils/steps/unchanged.py); FORCE=true loads it again. CLEANING=raw keeps every row, in the _raw tables
under the course's views (utils/sinks/course_views.py).

PIPELINE: a load (api_to_postgres, api_to_gcs, gcs_to_bigquery) or the marts (postgres_marts,
bigquery_marts: each run refreshes the marts of its month, from what its load wrote).

Loads a range of months through Mage's own backfill (the object the UI's Backfills page creates:
interval month, one run per month start, each loading the month of its execution_date), so
every month is a run in the UI's history. Starts the services first if they are not running
(and leaves them running, as `make up` does), then prints each month's line (status, rows,
seconds) as its run finishes, every minute a line naming the months not done yet (status and
running block), and a total. Exits 1 when a month failed, naming it, its failing block and the
error; 2 on bad input, with nothing created. A failed month never stops the others, and a month
loaded before is replaced, never duplicated.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from datetime import date
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from scripts.mage.mage_api import RunResult  # noqa: E402
from scripts.mage.mage_session import MageRunError  # noqa: E402
from scripts.stack import run_local  # noqa: E402
from scripts.stack.local_settings import environment  # noqa: E402
from scripts.stack.processes import ServiceError  # noqa: E402
from utils.domain.progress import plural  # noqa: E402
from utils.domain.taxi_schema import SERVICES  # noqa: E402
from utils.domain.taxi_source import CLEANING, SOURCES  # noqa: E402

MAX_MONTHS = 120  # a longer range needs CONFIRM=yes
_MONTH = re.compile(r'(\d{4})-(\d{2})')


class BadInput(ValueError):
    pass


def month_pipelines() -> list[str]:
    """The pipelines that take one month per run: those with the variables service, year, month.
    The loads load it; the marts (*_marts) refresh it, from what its load wrote: each run the
    month of its date (utils/steps/run_month.py)."""
    found = []
    for meta in sorted((REPO_ROOT / 'pipelines').glob('*/metadata.yaml')):
        variables = yaml.safe_load(meta.read_text()).get('variables') or {}
        if {'service', 'year', 'month'} <= set(variables):
            found.append(meta.parent.name)
    return found


def parse_month(setting: str, value: str) -> date:
    match = _MONTH.fullmatch(value.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise BadInput(f'{setting}={value!r} is not a month: write YYYY-MM, e.g. {setting}=2020-10')
    return date(int(match.group(1)), int(match.group(2)), 1)


def months_between(first: date, last: date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month + 1


def parse_services(text: str) -> list[str]:
    services = [s.strip().lower() for s in text.split(',') if s.strip()]
    unknown = [s for s in services if s not in SERVICES]
    if unknown or not services:
        raise BadInput(
            f'SERVICE={text!r} is not a taxi service: use one of {", ".join(SERVICES)}, or several '
            'separated by commas (SERVICE=yellow,green)'
        )
    return list(dict.fromkeys(services))


def check(
    pipeline: str, service: str, first_text: str, last_text: str, confirm: str, release: str = '', cleaning: str = ''
) -> tuple[date, date]:
    """Every input checked before anything starts or is created."""
    known = month_pipelines()
    if pipeline not in known:
        raise BadInput(f'PIPELINE={pipeline!r} is not a pipeline that takes a month: use one of {", ".join(known)}')
    services = parse_services(service)
    if pipeline.endswith('_marts'):
        from utils.steps.marts import MART_SERVICES

        if set(services) - set(MART_SERVICES):
            raise BadInput(f'SERVICE={service!r}: {pipeline} refreshes the marts of {", ".join(MART_SERVICES)} only')
    if release and release not in SOURCES:
        raise BadInput(f'RELEASE={release!r} is not a release: use one of {", ".join(SOURCES)}')
    if cleaning and cleaning not in CLEANING:
        raise BadInput(f'CLEANING={cleaning!r} is not a cleaning: use one of {", ".join(CLEANING)}')
    first, last = parse_month('FROM', first_text), parse_month('TO', last_text)
    if first > last:
        raise BadInput(f'FROM={first_text} is after TO={last_text}')
    count = months_between(first, last)
    if count > MAX_MONTHS and confirm.strip().lower() != 'yes':
        raise BadInput(
            f'FROM={first_text} TO={last_text} is {count} months, more than {MAX_MONTHS}: '
            'add CONFIRM=yes to run them all'
        )
    return first, last


def offline_months(service: str, source: str = 'course') -> list[str]:
    """The months of a service the sample mirror serves of a release, as 'YYYY-MM'."""
    files = (REPO_ROOT / 'samples').glob('trip-data/*.parquet' if source == 'tlc' else '*/*.csv.gz')
    names = (re.fullmatch(r'(\w+)_tripdata_(\d{4}-\d{2})\.(csv\.gz|parquet)', f.name) for f in files)
    return sorted(m.group(2) for m in names if m and m.group(1) == service)


USAGE = (
    'make backfill PIPELINE=<one of ' + ', '.join(month_pipelines()) + '> SERVICE=yellow[,green,fhv,fhvhv] '
    'FROM=YYYY-MM TO=YYYY-MM [RELEASE=tlc] [FORCE=true] [CLEANING=raw]: one Mage backfill per service, a run '
    'per month'
)


def month_line(label: str, r: RunResult) -> str:
    """The line of one month's run, printed as it finishes: 'yellow 2019-02  completed  ... rows'."""
    month = f'{label}{(r.execution_date or "")[:7]}'
    if r.ok:
        return f'{month}  completed  {r.rows or 0:>12,} rows  {r.seconds:6.1f} s'
    return f'{month}  {r.status:<9}  in {", ".join(r.failed_blocks) or "no block"}: {r.error or "see " + r.url}'


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--pipeline', default='')
    parser.add_argument('--service', default='')
    parser.add_argument('--from', dest='first', default='')
    parser.add_argument('--to', dest='last', default='')
    parser.add_argument('--release', default='')
    parser.add_argument('--confirm', default='')
    parser.add_argument('--force', default='')
    parser.add_argument('--cleaning', default='')
    args = parser.parse_args(argv)
    if not (args.pipeline or args.first or args.last):
        print(f'[backfill] usage: {USAGE}', flush=True)
        return 2
    try:
        first, last = check(
            args.pipeline,
            args.service,
            args.first,
            args.last,
            args.confirm,
            args.release.strip(),
            args.cleaning.strip().lower(),
        )
    except BadInput as e:
        print(f'[backfill] {e}; nothing was created', flush=True)
        return 2
    services = parse_services(args.service)
    months = months_between(first, last)
    variables = {'source': args.release.strip()} if args.release.strip() else {}
    if args.force.strip():  # force=true loads months whose source has not changed since (utils/steps/unchanged.py)
        variables['force'] = args.force.strip().lower()
    if args.cleaning.strip():  # cleaning=raw: every row, into the _raw tables and the course's views
        variables['cleaning'] = args.cleaning.strip().lower()
    try:
        env = environment()
        mage = run_local.start_all(env)
        started = time.monotonic()
        made = []
        for service in services:
            name = f'{service} {first:%Y-%m}..{last:%Y-%m}'
            backfill = mage.create_backfill(args.pipeline, name, first, last, {'service': service, **variables})
            print(
                f'[backfill] {args.pipeline} backfill {backfill["id"]} ({name}, {plural(months, "month")}): '
                f'{mage.base_url}/pipelines/{args.pipeline}/backfills/{backfill["id"]}',
                flush=True,
            )
            made.append((service, backfill))
        results: list[tuple[str, RunResult]] = []
        for service, backfill in made:  # each month's line as it finishes, and every minute what is not done
            label = '' if len(services) == 1 else f'{service} '

            def finished(r: RunResult, label: str = label) -> None:
                print(month_line(label, r), flush=True)

            def waiting(said: str, label: str = label) -> None:
                print(f'[backfill] {label}{said}', flush=True)

            done = mage.wait_for_backfill(
                backfill['id'], months, timeout=600 + 600 * months, finished=finished, waiting=waiting
            )
            results.extend((service, r) for r in done)
    except (ServiceError, MageRunError) as e:
        print(f'[backfill] error: {e}', flush=True)
        return 2
    wall = time.monotonic() - started

    failed = [(service, r) for service, r in results if not r.ok]
    rows = sum(r.rows or 0 for _, r in results if r.ok)
    print(
        f'total: {plural(len(results), "month")}, {len(results) - len(failed)} completed, {len(failed)} failed; '
        f'{rows:,} rows; {wall:.1f} s',
        flush=True,
    )
    if failed:
        names = ', '.join(
            f'{"" if len(services) == 1 else service + " "}{(r.execution_date or "")[:7]} '
            f'({", ".join(r.failed_blocks) or r.status})'
            for service, r in failed
        )
        print(f'[backfill] failed: {names}', flush=True)
        if env.get('SOURCE', 'samples') == 'samples' and args.pipeline in ('api_to_postgres', 'api_to_gcs'):
            release = args.release.strip() or env.get('TAXI_SOURCE') or 'course'
            for service in sorted({service for service, _ in failed}):
                print(
                    f'[backfill] offline, the sample mirror serves only '
                    f'{", ".join(offline_months(service, release)) or "no month"} of {service} in the {release} '
                    'release (samples/); SOURCE=public loads the release files',
                    flush=True,
                )
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
