"""Two races in mage-ai 0.9.80's local process queue that leave a triggered run "running" forever,
fixed here; scripts/start_mage.py applies them in the server process before Mage starts (its
scheduler and worker pools are forked from it, so they run the fixed code).

Both were seen on this project's 2-core machine under load (`make up` hung, mage.log):

1. ProcessQueue.enqueue puts the job on the queue, THEN records it as QUEUED in the shared job
   dict. A worker pool that is already polling can take the job in between; its Worker reads
   the dict, fails with `KeyError: 'pipeline_run_1'` and drops the job. Fixed: record, then put.
2. poll_job_and_execute (the worker pool) exits as soon as it has no worker and the queue looks
   empty. An mp.Queue hands items over through a feeder thread, so a pool started right after a
   put can look before the item arrives, exit, and leave the job queued with no pool to run
   it; the scheduler then believes it is pending and never enqueues it again. Fixed: the pool
   exits only after the queue stayed empty, with no worker, for IDLE_SECONDS.

Only for the pinned version: another version is left as it is, with a warning, so an upgrade
makes someone look again.
"""

from __future__ import annotations

import os
import sys
import time

PATCHED_VERSION = '0.9.80'
IDLE_SECONDS = 3
MARKER = 'recorded before the put'


def enqueue(self, job_id: str, target, *args, **kwargs) -> None:
    """ProcessQueue.enqueue of 0.9.80 with the job recorded as QUEUED before it is put."""
    from mage_ai.orchestration.queue.process_queue import JobStatus, QueueStatus, LIVENESS_TIMEOUT_SECONDS

    if self.status != QueueStatus.ACTIVE:
        self._print('Cannot enqueue a job to an inactive queue.')
        return
    if self.has_job(job_id):
        self._print(f'Job {job_id} exists. Skip enqueue.')
        return
    self._print(f'Enqueue job {job_id} ({MARKER})')
    if self.redis_client:
        self.redis_client.set(job_id, self.client_id)
        self.redis_client.set(self.client_id, '1', ex=LIVENESS_TIMEOUT_SECONDS)
    self.job_dict[job_id] = JobStatus.QUEUED
    self.queue.put([job_id, target, args, kwargs])
    if not self.is_worker_pool_alive():
        self.start_worker_pool()


def poll_job_and_execute(queue, size: int, job_dict, redis_client, client_id: str,
                         idle_seconds: float = IDLE_SECONDS) -> None:
    """The worker pool of 0.9.80, leaving only once the queue stayed empty for idle_seconds."""
    from mage_ai.orchestration.queue.process_queue import LIVENESS_TIMEOUT_SECONDS, Worker

    workers = []
    idle_since = None
    while True:
        workers = [w for w in workers if w.is_alive()]
        if not workers and queue.empty():
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= idle_seconds:
                break
        else:
            idle_since = None
        while not queue.empty() and len(workers) < size:
            worker = Worker(queue, job_dict)
            worker.start()
            workers.append(worker)
        time.sleep(0.2)
        if redis_client and client_id:
            redis_client.set(client_id, '1', ex=LIVENESS_TIMEOUT_SECONDS)


def apply() -> bool:
    """Patch mage-ai's process queue in this process; False (and a warning) for another version."""
    from importlib.metadata import version

    from mage_ai.orchestration.queue import process_queue

    if version('mage-ai') != PATCHED_VERSION:
        print(f'[mage_patches] mage-ai {version("mage-ai")} is not {PATCHED_VERSION}: its process queue '
              'is left unpatched; check whether it still has the races in scripts/mage_patches.py',
              file=sys.stderr)
        return False
    process_queue.ProcessQueue.enqueue = enqueue
    process_queue.poll_job_and_execute = poll_job_and_execute  # start_worker_pool looks it up by name
    print(f'[mage_patches] mage-ai {PATCHED_VERSION} process queue patched (pid {os.getpid()})', flush=True)
    return True
