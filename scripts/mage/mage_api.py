"""Trigger pipeline runs and backfills through a running Mage server, so they show in the UI.

Runs made by the `mage run` CLI are not recorded in Mage's database; runs made through a
pipeline's API trigger (pipelines/<uuid>/triggers.yaml) or a backfill (the same object the UI's
Backfills page creates) are.

With the login on (REQUIRE_USER_AUTHENTICATION=1) every request but the API trigger's needs a
session: scripts/mage/mage_session.py logs in when the server asks for it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import requests

from scripts.mage.mage_session import MageLoginError, MageRunError, MageSession

DONE = {'completed', 'failed', 'cancelled'}


@dataclass
class RunResult:
    pipeline_uuid: str
    run_id: int
    status: str
    blocks: dict[str, str]
    url: str
    seconds: float
    execution_date: str | None = None
    rows: int | None = None  # rows the run loaded, from its last block's manifest
    error: str | None = None  # the failed block's exception line
    manifest: dict | None = None  # a completed run's last block's manifest

    @property
    def ok(self) -> bool:
        return self.status == 'completed'

    @property
    def failed_blocks(self) -> list[str]:
        return [b for b, s in self.blocks.items() if s == 'failed']

    def describe(self) -> str:
        tail = f' (failed block: {", ".join(self.failed_blocks)})' if self.failed_blocks and not self.ok else ''
        return f'{self.pipeline_uuid} run {self.run_id}: {self.status} in {self.seconds:.0f} s{tail} -> {self.url}'


def _seconds(run: dict) -> float:
    """A finished run's duration by Mage's own clock."""
    parse = lambda v: datetime.fromisoformat(str(v).replace('Z', '+00:00')).replace(tzinfo=None)  # noqa: E731
    if not run.get('started_at'):
        return 0.0
    return (parse(run.get('completed_at') or run['updated_at']) - parse(run['started_at'])).total_seconds()


_EXCEPTION_LINE = re.compile(r'^(?:[\w.]+\.)?(\w*(?:Error|Exception|Timeout)\w*): (.+)$', re.M)


class MageServer(MageSession):
    """Runs, backfills and their logs, asked of the server through its REST API."""

    def wait_for_database(self, timeout: float = 180) -> None:
        """Mage answers /api/status before its scheduler process has migrated its database (seen
        on a busy machine: `no such column: pipeline_schedule.last_enabled_at`): wait until the
        API can read it. A refused login fails at once."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._get('pipeline_schedules', _limit=1)
                return
            except MageLoginError:
                raise
            except (MageRunError, requests.RequestException) as e:
                if time.monotonic() > deadline:
                    raise MageRunError(
                        f'Mage at {self.base_url} cannot read its database after {timeout:.0f} s: {e}'
                    ) from e
                time.sleep(1)

    def api_trigger(self, pipeline_uuid: str, timeout: float = 90) -> dict:
        """The pipeline's API trigger, once the scheduler has synced triggers.yaml into the DB."""
        deadline = time.monotonic() + timeout
        while True:
            schedules = self._get(f'pipelines/{pipeline_uuid}/pipeline_schedules')['pipeline_schedules']
            api = [s for s in schedules if s['schedule_type'] == 'api' and s['status'] == 'active']
            if api:
                return api[0]
            if time.monotonic() > deadline:
                raise MageRunError(
                    f'pipeline {pipeline_uuid} has no active API trigger after {timeout:.0f} s: '
                    f'check pipelines/{pipeline_uuid}/triggers.yaml'
                )
            time.sleep(1)

    def run(self, pipeline_uuid: str, variables: dict[str, Any] | None = None, timeout: float = 900) -> RunResult:
        """Fire the API trigger and wait until the run is completed, failed or cancelled."""
        started = time.monotonic()
        run = self.wait(self.trigger(pipeline_uuid, variables), timeout)
        return self.result(run, time.monotonic() - started)

    def run_and_its_refresh(
        self, pipeline_uuid: str, variables: dict[str, Any] | None = None, timeout: float = 900
    ) -> list[RunResult]:
        """A run, then the marts run its last block started (refresh_marts: utils/steps/marts_follow.py),
        waited for by its id; a run that started none gives a list of one."""
        result = self.run(pipeline_uuid, variables, timeout)
        marts_run_id = (result.manifest or {}).get('marts_run_id')
        if not marts_run_id:
            return [result]
        return [result, self.result(self.wait(int(marts_run_id), timeout))]

    def trigger(self, pipeline_uuid: str, variables: dict[str, Any] | None = None) -> int:
        """Fire the pipeline's API trigger (as `make run` and the UI's API do); return the run id."""
        trigger = self.api_trigger(pipeline_uuid)
        r = self.http.post(
            f'{self.base_url}/api/pipeline_schedules/{trigger["id"]}/pipeline_runs/{trigger["token"]}',
            json={'pipeline_run': {'variables': variables or {}}},
            timeout=30,
        )
        r.raise_for_status()
        return r.json()['pipeline_run']['id']

    def wait(self, run_id: int, timeout: float = 900) -> dict:
        """The run, once it is completed, failed or cancelled."""
        deadline = time.monotonic() + timeout
        while True:
            run = self._get(f'pipeline_runs/{run_id}')['pipeline_run']
            if run['status'] in DONE:
                return run
            if time.monotonic() > deadline:
                raise MageRunError(f'{run["pipeline_uuid"]} run {run_id} still {run["status"]} after {timeout:.0f} s')
            time.sleep(0.5)

    def retry_failed_blocks(self, run_id: int) -> None:
        """Mage's retry of a failed run: its incomplete blocks run again, the completed ones keep
        their output (the run page's "Retry incomplete blocks")."""
        self._send('PUT', f'pipeline_runs/{run_id}', {'pipeline_run': {'pipeline_run_action': 'retry_blocks'}})

    def result(self, run: dict, seconds: float | None = None) -> RunResult:
        """What a finished run did: its blocks' statuses, rows loaded, the failed block's error."""
        block_runs = self._get(f'pipeline_runs/{run["id"]}/block_runs')['block_runs']
        blocks = {b['block_uuid']: b['status'] for b in block_runs}
        result = RunResult(
            run['pipeline_uuid'],
            run['id'],
            run['status'],
            blocks,
            f'{self.base_url}/pipelines/{run["pipeline_uuid"]}/runs/{run["id"]}',
            _seconds(run) if seconds is None else seconds,
            run.get('execution_date'),
        )
        if result.ok:
            last = max(block_runs, key=lambda b: b['id'])
            manifest = result.manifest = self.block_output(last['id'])
            result.rows = next((manifest[k] for k in ('rows_loaded', 'rows_out', 'rows') if k in manifest), None)
        elif result.failed_blocks:
            result.error = self.block_error(run['pipeline_uuid'], run['id'], result.failed_blocks[0])
        return result

    def output_of(self, run_id: int, block_uuid: str) -> dict:
        """The output of the block `block_uuid` in the run `run_id` (block_output)."""
        block_runs = self._get(f'pipeline_runs/{run_id}/block_runs')['block_runs']
        (block_run,) = [b for b in block_runs if b['block_uuid'] == block_uuid]
        return self.block_output(block_run['id'])

    def block_output(self, block_run_id: int) -> dict:
        """A block run's output: our blocks return one manifest (a dict), shown as a one-row table."""
        outputs = self._get(f'block_runs/{block_run_id}/outputs')['outputs']
        table = (outputs[0].get('sample_data') or {}) if outputs else {}
        rows = table.get('rows') or [[]]
        return dict(zip(table.get('columns', []), rows[0], strict=False))

    def block_log(self, pipeline_uuid: str, run_id: int, block_uuid: str) -> str:
        """The block's log in that run, as the run page's Logs tab shows it."""
        logs = self._get(
            f'pipelines/{pipeline_uuid}/logs',
            **{'pipeline_run_id[]': run_id, 'block_uuid[]': block_uuid, '_limit': 1000},
        )['logs']
        return '\n'.join(entry.get('content', '') for log in logs for entry in log.get('block_run_logs', []))

    def block_error(self, pipeline_uuid: str, run_id: int, block_uuid: str) -> str:
        """The last exception line of the block's log in that run ('' if there is none)."""
        found = _EXCEPTION_LINE.findall(self.block_log(pipeline_uuid, run_id, block_uuid))
        return f'{found[-1][0]}: {found[-1][1].strip()}' if found else ''

    def first_error(self, pipeline_uuid: str, run_id: int, block_uuid: str) -> str:
        """The message of the block's first ERROR record in that run's log (the first red row of
        the run's log list; '' if there is none)."""
        return next(iter(self.error_records(pipeline_uuid, run_id, block_uuid)), '')

    def error_records(self, pipeline_uuid: str, run_id: int, block_uuid: str) -> list[str]:
        """The messages of the block's ERROR records in that run's log, in order (the red rows of
        the run's log list: for a dbt block, dbt's own error lines)."""
        found = []
        for line in self.block_log(pipeline_uuid, run_id, block_uuid).splitlines():
            _, _, text = line.partition(' ')  # '<time> {"level": ..., "message": ...}'
            record = json.loads(text) if text.startswith('{') else {}
            if record.get('level') == 'ERROR':
                found.append(record.get('message', ''))
        return found

    def run_at_once(self, pipeline_uuid: str, name: str, variables: dict[str, Any] | None = None) -> dict:
        """What the UI's Triggers > Run@once sends: an @once time trigger that starts now (a minute
        ago, so the scheduler's next tick takes it up); returns the trigger."""
        schedule: dict[str, Any] = {
            'name': name,
            'schedule_type': 'time',
            'schedule_interval': '@once',
            'start_time': (datetime.now(timezone.utc) - timedelta(minutes=1)).strftime('%Y-%m-%d %H:%M:%S'),
            'status': 'active',
        }
        if variables is not None:
            schedule['variables'] = variables
        body = {'pipeline_schedule': schedule}
        return self._send('POST', f'pipelines/{pipeline_uuid}/pipeline_schedules', body)['pipeline_schedule']

    def ended_run_of_trigger(self, pipeline_uuid: str, schedule_id: int, timeout: float = 180) -> dict:
        """The run of trigger `schedule_id`, as the run list shows it, once it completed, failed or
        was cancelled."""
        deadline = time.monotonic() + timeout
        while True:
            runs = [r for r in self.runs(pipeline_uuid) if r['pipeline_schedule_id'] == schedule_id]
            if runs and runs[0]['status'] in DONE:
                return runs[0]
            if time.monotonic() > deadline:
                raise MageRunError(f'the run of trigger {schedule_id} has not ended after {timeout:.0f} s: {runs}')
            time.sleep(1)

    def runs(self, pipeline_uuid: str) -> list[dict]:
        return self._get('pipeline_runs', pipeline_uuid=pipeline_uuid, _limit=10_000)['pipeline_runs']

    def dashboard_chart(self, pipeline_uuid: str, chart_uuid: str) -> dict:
        """A chart of the pipeline's Dashboard as the page gets it: {'x', 'y', 'columns'}, or an
        AssertionError with the chart's error."""
        item = self._get(f'page_block_layouts/pipelines%2F{pipeline_uuid}%2Fdashboard/block_layout_items/{chart_uuid}')
        item = item.get('block_layout_item') or {}
        assert item and not item.get('error'), (
            f'{pipeline_uuid} dashboard, {chart_uuid}: {item.get("error") or "no chart"}'
        )
        return item.get('data') or {}

    # --- backfills: one run per month start, as the UI's Backfills page makes them --------------

    def create_backfill(
        self, pipeline_uuid: str, name: str, first: date, last: date, variables: dict[str, Any]
    ) -> dict:
        """Create and start a monthly backfill over first..last (month starts, UTC)."""
        backfill = self._send(
            'POST',
            f'pipelines/{pipeline_uuid}/backfills',
            {
                'backfill': {
                    'name': name,
                    'interval_type': 'month',
                    'interval_units': 1,
                    'start_datetime': f'{first:%Y-%m-01}T00:00:00+00:00',
                    'end_datetime': f'{last:%Y-%m-01}T00:00:00+00:00',
                    'variables': variables,
                }
            },
        )['backfill']
        self._send('PUT', f'backfills/{backfill["id"]}', {'backfill': {'status': 'initial'}})  # the UI's "Start"
        return backfill

    def backfill_runs(self, backfill_id: int) -> list[dict]:
        return self._get('pipeline_runs', backfill_id=backfill_id, _limit=1000)['pipeline_runs']

    def wait_for_backfill(
        self,
        backfill_id: int,
        months: int,
        timeout: float,
        finished: Callable[[RunResult], None] | None = None,
        waiting: Callable[[str], None] | None = None,
        every: float = 60,
    ) -> list[RunResult]:
        """Wait until every month's run finished; return their results, oldest month first.
        `finished` gets each month's result as its run finishes; `waiting`, every `every` seconds,
        a line naming the months not done yet, their status and their running block."""
        deadline = time.monotonic() + timeout
        started = next_word = time.monotonic()
        results: dict[int, RunResult] = {}
        while True:
            runs = self.backfill_runs(backfill_id)
            for run in runs:
                if run['status'] in DONE and run['id'] not in results:
                    results[run['id']] = self.result(run)
                    if finished is not None:
                        finished(results[run['id']])
            if len(runs) == months and len(results) == months:
                return sorted(results.values(), key=lambda r: r.execution_date or '')
            if time.monotonic() > deadline:
                raise MageRunError(
                    f'backfill {backfill_id}: not done after {timeout:.0f} s: {self.not_done(runs, months)}'
                )
            if waiting is not None and time.monotonic() >= next_word + every:
                next_word = time.monotonic()
                waiting(
                    f'{next_word - started:.0f} s: {len(results)} of {months} done; '
                    f'not yet: {self.not_done(runs, months)}'
                )
            time.sleep(1)

    def not_done(self, runs: list[dict], months: int) -> str:
        """'2019-02 running (load_taxi_csv), 2019-03 initial': the months of a backfill not done."""
        said = []
        for run in sorted(runs, key=lambda r: r['execution_date'] or ''):
            if run['status'] in DONE:
                continue
            blocks = self._get(f'pipeline_runs/{run["id"]}/block_runs')['block_runs']
            running = [b['block_uuid'] for b in blocks if b['status'] == 'running']
            said.append(
                f'{(run["execution_date"] or "")[:7]} {run["status"]}' + (f' ({", ".join(running)})' if running else '')
            )
        if len(runs) < months:
            said.append(f'{months - len(runs)} month(s) with no run yet')
        return ', '.join(said)
