"""How the benches measure a process tree: one command's wall time and peak RSS (make bench), and
the Mage server's processes sampled while it runs a backfill, each run's subtree apart (make
bench-backfill). RSS is summed over every process of the tree, as psutil reads it from /proc.
"""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]


def measure(cmd: list[str] | str, env: dict[str, str] | None = None, shell: bool = False) -> tuple[float, float, str]:
    """(wall seconds, peak RSS of the process tree in MB, output) of one command."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, shell=shell, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True
    )
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = proc.communicate()[0].decode(errors='replace')
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f'benchmark step failed ({proc.returncode}): {cmd}\n{output[-4000:]}')
    return seconds, peak / 1e6, output


def typical(runs: list[tuple[float, float, str]]) -> tuple[float, float]:
    """(median wall seconds, largest peak RSS) of repeated runs of one step."""
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def seconds_of(runs: list[tuple[float, float, str]]) -> str:
    return ', '.join(f'{r[0]:.1f}' for r in runs)


class TreeSampler:
    """Samples the RSS of the Mage server's processes every 0.2 s, from one pass over /proc each
    time (the sampler shares the 2 cores with what it measures). Mage's scheduler forks a
    worker-pool process when runs are queued, and it forks one Worker process per run: a run is
    a process that is new, as is its parent, but not its grandparent. Its peak is that of its
    whole subtree. The server's own RSS is that of the processes there before the backfill."""

    def __init__(self, root: int):
        self.root = root
        self.before = set(self._tree())
        self.peaks: dict[int, float] = {}  # run process pid -> peak RSS of its subtree (bytes)
        self.started_at: dict[int, float] = {}
        self.last_seen: dict[int, float] = {}
        self.server: list[tuple[float, float]] = []  # (time, the server's own RSS in MB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _tree(self) -> dict[int, int]:
        """pid -> parent pid of the root and its descendants."""
        children: dict[int, list[int]] = {}
        parent: dict[int, int] = {}
        for proc in psutil.process_iter(['ppid']):
            parent[proc.pid] = proc.info['ppid']
            children.setdefault(proc.info['ppid'], []).append(proc.pid)
        tree, todo = {}, [self.root]
        while todo:
            pid = todo.pop()
            tree[pid] = parent.get(pid, 0)
            todo.extend(children.get(pid, []))
        return tree

    @staticmethod
    def _rss(pids) -> int:
        total = 0
        for pid in pids:
            with contextlib.suppress(psutil.Error):  # ended since the pass over /proc
                total += psutil.Process(pid).memory_info().rss
        return total

    def server_rss(self, tree: dict[int, int] | None = None) -> float:
        return self._rss(pid for pid in (tree or self._tree()) if pid in self.before) / 1e6

    def server_rss_after_first_run(self) -> float:
        """The server's RSS once the first run had ended: what the year added after that is growth,
        what came before it is the server's warm-up (its first run, first backfill)."""
        first = min(self.started_at, key=lambda pid: self.started_at[pid])
        return next((rss for t, rss in self.server if t > self.last_seen[first]), self.server[-1][1])

    def _run(self) -> None:
        while not self._stop.is_set():
            tree = self._tree()
            self.server.append((time.time(), self.server_rss(tree)))
            new = {pid: ppid for pid, ppid in tree.items() if pid not in self.before}
            for pid, ppid in new.items():
                if ppid not in new or new[ppid] in new:
                    continue  # the pool itself, or a child of a run (counted in its subtree)
                subtree, todo = [], [pid]
                while todo:
                    subtree.append(todo.pop())
                    todo.extend(child for child, parent in new.items() if parent == subtree[-1])
                self.peaks[pid] = max(self.peaks.get(pid, 0), self._rss(subtree))
                self.started_at.setdefault(pid, time.time())
                self.last_seen[pid] = time.time()
            time.sleep(0.2)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def run_peaks_mb(self, runs: int) -> list[float]:
        """The peak RSS of the `runs` longest-lived run processes (Mage forks a short Worker for
        other jobs now and then), in the order they started."""
        lived = sorted(self.peaks, key=lambda pid: self.last_seen[pid] - self.started_at[pid], reverse=True)[:runs]
        return [self.peaks[pid] / 1e6 for pid in sorted(lived, key=lambda pid: self.started_at[pid])]
