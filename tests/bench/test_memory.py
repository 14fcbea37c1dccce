"""Process-tree memory sampling with psutil, on real processes."""

import subprocess
import sys

import pytest

from bench.memory import MIB, MemorySampler, TreeMemory, tree_memory

pytestmark = pytest.mark.unit

# A parent that holds ~64 MiB and starts a child holding ~32 MiB, then waits to be killed.
PARENT = """
import subprocess, sys
ballast = bytearray(64 * 2**20)
code = "import sys; b = bytearray(32 * 2**20); print('ready', flush=True); sys.stdin.read()"
pipe = subprocess.PIPE
child = subprocess.Popen([sys.executable, "-c", code], stdin=pipe, stdout=pipe, text=True)
print(child.stdout.readline().strip(), flush=True)
sys.stdin.read()
"""


def test_tree_memory_counts_descendants_and_peaks_are_kept():
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "ready"
        sampler = MemorySampler(lambda: {"tree": parent.pid}, interval_s=0.1)
        total = sampler.sample()
        assert total.rss > 96 * MIB  # 64 + 32 MiB of touched pages, plus two interpreters
        assert 0 < total.pss <= total.rss
        assert sampler.summary()["per_process_peak"]["tree"]["rss_mib"] > 96
    finally:
        parent.kill()
        parent.wait()
    after = sampler.sample()
    assert after == TreeMemory()  # the tree is gone …
    assert sampler.total_peak.rss == total.rss  # … the peak stays
    assert len(sampler.series) == 2


def test_a_vanished_process_counts_as_nothing():
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    assert finished.wait() == 0
    assert tree_memory(finished.pid) == TreeMemory()
