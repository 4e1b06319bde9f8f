"""Trigger pipeline runs through a running Mage server, so they show in the UI's run history.

Runs made by the `mage run` CLI are not recorded in Mage's database; runs made through a
pipeline's API trigger (pipelines/<uuid>/triggers.yaml) are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import requests

# Mage's web UI sends this public OAuth client id as api_key with every request.
UI_API_KEY = 'zkWlN0PkIKSN0C11CfUHUj84OT5XOJ6tDZ6bDRO2'
DONE = {'completed', 'failed', 'cancelled'}


class MageRunError(RuntimeError):
    pass


@dataclass
class RunResult:
    pipeline_uuid: str
    run_id: int
    status: str
    blocks: dict[str, str]
    url: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status == 'completed'

    def describe(self) -> str:
        failed = [b for b, s in self.blocks.items() if s == 'failed']
        tail = f' (failed block: {", ".join(failed)})' if failed and not self.ok else ''
        return f'{self.pipeline_uuid} run {self.run_id}: {self.status} in {self.seconds:.0f} s{tail} -> {self.url}'


class MageServer:
    def __init__(self, base_url: str = 'http://127.0.0.1:6789'):
        self.base_url = base_url.rstrip('/')
        self.http = requests.Session()

    def _get(self, path: str, **params: Any) -> dict:
        r = self.http.get(f'{self.base_url}/api/{path}', params={'api_key': UI_API_KEY, **params}, timeout=30)
        r.raise_for_status()
        return r.json()

    def ready(self) -> bool:
        try:
            return self.http.get(f'{self.base_url}/api/status', timeout=2).status_code == 200
        except requests.RequestException:
            return False

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
        trigger = self.api_trigger(pipeline_uuid)
        started = time.monotonic()
        r = self.http.post(
            f"{self.base_url}/api/pipeline_schedules/{trigger['id']}/pipeline_runs/{trigger['token']}",
            json={'pipeline_run': {'variables': variables or {}}},
            timeout=30,
        )
        r.raise_for_status()
        run_id = r.json()['pipeline_run']['id']
        while True:
            run = self._get(f'pipeline_runs/{run_id}')['pipeline_run']
            if run['status'] in DONE:
                break
            if time.monotonic() - started > timeout:
                raise MageRunError(f'{pipeline_uuid} run {run_id} still {run["status"]} after {timeout:.0f} s')
            time.sleep(1)
        blocks = {b['block_uuid']: b['status'] for b in self._get(f'pipeline_runs/{run_id}/block_runs')['block_runs']}
        return RunResult(
            pipeline_uuid, run_id, run['status'], blocks,
            f'{self.base_url}/pipelines/{pipeline_uuid}/runs/{run_id}', time.monotonic() - started,
        )

    def runs(self, pipeline_uuid: str) -> list[dict]:
        return self._get('pipeline_runs', pipeline_uuid=pipeline_uuid)['pipeline_runs']
