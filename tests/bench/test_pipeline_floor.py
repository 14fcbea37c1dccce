"""Pipeline floor: commit lines read whole and once, the source schedule, cycle and visibility figures."""

import pytest

from bench.pipeline_floor import CommitLines, Cycle, Workload, announce, cycle_figures, gold_visibility

pytestmark = pytest.mark.unit


def test_commit_lines_return_each_complete_line_once(tmp_path):
    path = tmp_path / "silver.commits"
    lines = CommitLines(path)
    assert lines.new() == []  # no file yet
    first = Cycle(1, covered_ms=1_000, committed_ms=1_500, cycle_s=0.5, rows=10)
    announce(path, first)
    with path.open("ab") as handle:  # a writer caught half-way through its line
        handle.write(Cycle(2, 2_000, 2_600, 0.6, 20).line()[:9])
    assert lines.new() == [first]
    with path.open("ab") as handle:
        handle.write(Cycle(2, 2_000, 2_600, 0.6, 20).line()[9:])
    assert lines.new() == [Cycle(2, 2_000, 2_600, 0.6, 20)]
    assert lines.new() == []


def test_workload_schedules_changes_evenly_and_stops_at_its_end():
    workload = Workload(start_ms=10_000, end_ms=12_000, rate=1000)
    assert workload.changes_until(9_999) == 0
    assert workload.changes_until(10_500) == 500
    assert workload.changes_until(99_000) == 2_000  # nothing after the end
    assert workload.time_of(0) == 10_000
    assert workload.time_of(1_999) == 11_999


def test_cycle_figures_count_only_commits_inside_the_window():
    cycles = [
        Cycle(1, 0, 900, 9.0, 1),  # warm-up: ignored
        Cycle(2, 0, 1_500, 1.0, 100),
        Cycle(3, 0, 2_500, 2.0, 300),
        Cycle(4, 0, 9_000, 5.0, 1),  # drain: ignored
    ]
    figures = cycle_figures(cycles, start_ms=1_000, end_ms=3_000)
    assert figures["cycles"] == 2
    assert figures["cycle_s"]["p50"] == 1.0
    assert figures["cycle_s"]["max"] == 2.0
    assert figures["rows_per_cycle_p50"] == 200


def test_gold_visibility_waits_for_the_first_commit_covering_each_change():
    gold = [
        Cycle(1, covered_ms=500, committed_ms=900, cycle_s=1, rows=1),  # before the window
        Cycle(2, covered_ms=1_040, committed_ms=2_000, cycle_s=1, rows=1),
        Cycle(3, covered_ms=1_100, committed_ms=3_000, cycle_s=1, rows=1),
    ]
    figures = gold_visibility(gold, start_ms=1_000, end_ms=1_100)
    # changes every 10 ms at 1000..1090: 1000..1040 seen at 2000, 1050..1090 at 3000
    assert figures["visibility_ms"]["p50"] == 1_000
    assert figures["visibility_ms"]["max"] == 1_950
    assert figures["invisible_at_end"] == 0
    assert figures["commit_lag_ms"]["max"] == 1_900
