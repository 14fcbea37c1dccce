"""Peak memory of whole process trees, sampled in the background with psutil.

A benchmark's memory is rarely one process: a stage script starts a JVM, Postgres forks a backend per
connection, supervisord runs five services. This sampler sums each named root's tree every
``interval_s`` and keeps the peaks. RSS counts a shared page once per process that maps it (Postgres'
shared buffers in every backend), so the proportional set size (PSS, each shared page split among its
users) is recorded too: sums of PSS do not double-count, sums of RSS do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import psutil

MIB = 2**20


@dataclass(frozen=True)
class TreeMemory:
    """Bytes resident in one process tree: plain RSS, and PSS (RSS when PSS cannot be read)."""

    rss: int = 0
    pss: int = 0

    def __add__(self, other: TreeMemory) -> TreeMemory:
        return TreeMemory(self.rss + other.rss, self.pss + other.pss)

    def peak(self, other: TreeMemory) -> TreeMemory:
        """Field-wise maximum: the two peaks need not happen at the same sample."""
        return TreeMemory(max(self.rss, other.rss), max(self.pss, other.pss))

    def as_mib(self) -> dict[str, float]:
        return {"rss_mib": round(self.rss / MIB, 1), "pss_mib": round(self.pss / MIB, 1)}


def process_tree(pid: int) -> list[psutil.Process]:
    """``pid`` and all its descendants; empty when ``pid`` is gone."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_memory(pid: int) -> TreeMemory:
    """RSS and PSS of ``pid`` and all its descendants; processes that vanish meanwhile count as 0."""
    total = TreeMemory()
    for process in process_tree(pid):
        try:
            try:
                info = process.memory_full_info()
                total += TreeMemory(info.rss, getattr(info, "pss", info.rss))
            except psutil.AccessDenied:
                rss = process.memory_info().rss
                total += TreeMemory(rss, rss)
        except psutil.NoSuchProcess:
            continue
    return total


class MemorySampler(threading.Thread):
    """Samples the trees named by ``roots()`` (name → pid, asked anew every sample, so a restarted
    process is followed) and keeps per-name peaks, the peak of their sum, and the sum over time."""

    def __init__(self, roots: Callable[[], Mapping[str, int]], interval_s: float = 1.0) -> None:
        super().__init__(name="memory-sampler", daemon=True)
        self._roots = roots
        self._interval_s = interval_s
        self._stop_event = threading.Event()
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.peaks: dict[str, TreeMemory] = {}
        self.total_peak = TreeMemory()
        self.series: list[tuple[float, float, float]] = []  # (seconds since start, total RSS, PSS MiB)

    def sample(self) -> TreeMemory:
        per_root = {name: tree_memory(pid) for name, pid in self._roots().items()}
        total = sum(per_root.values(), TreeMemory())
        with self.lock:
            for name, memory in per_root.items():
                self.peaks[name] = self.peaks.get(name, TreeMemory()).peak(memory)
            self.total_peak = self.total_peak.peak(total)
            elapsed = round(time.monotonic() - self.started, 2)
            self.series.append((elapsed, round(total.rss / MIB, 1), round(total.pss / MIB, 1)))
        return total

    def run(self) -> None:
        self.sample()
        while not self._stop_event.wait(self._interval_s):
            self.sample()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)
        self.sample()  # one last look, so a short run still has a figure

    def summary(self) -> dict[str, Any]:
        with self.lock:
            return {
                "per_process_peak": {name: peak.as_mib() for name, peak in sorted(self.peaks.items())},
                "total_peak": self.total_peak.as_mib(),
                "samples": len(self.series),
            }
