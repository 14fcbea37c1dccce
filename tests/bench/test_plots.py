"""The PNG plots are written when the run has data for them, and skipped when it has none."""

import pytest

from bench.plots import freshness_chart, scaling_chart, throughput_figures, write_all

pytestmark = pytest.mark.unit

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RESULTS = {
    "ceilings": {"parquet_write_rows_per_s": 2_000_000, "kafka_produce_rows_per_s": 400_000},
    "seed": {"rows_per_s": 150_000},
    "bronze": {"tuned": {"rows_per_s": 90_000}, "naive": {"rows_per_s": 30_000}},
    "freshness": {
        "table": "fact_sales",
        "duration_s": 60,
        "rate_requested_tx_per_s": 100,
        "visibility_ms": {"p95": 9000},
        "series": {
            "freshness": [[1.0, 5000, "fact_sales"], [7.5, 6100, "fact_sales"], [7.6, 6200, "dim_date"]],
            "memory": [[-3.0, 3000.0, 2500.0], [0.0, 3100.0, 2600.0], [30.0, 3300.0, 2800.0]],
        },
    },
    "scaling": {
        "seed": {
            "0.1": {"status": "ok", "rows_total": 100_000, "seconds": 2.0, "peak_rss_mib": 200.0},
            "1": {"status": "ok", "rows_total": 1_000_000, "seconds": 16.0, "peak_rss_mib": 300.0},
        }
    },
}


def test_throughput_figures_take_present_stages_and_ceilings():
    bars, ceilings = throughput_figures(RESULTS)
    assert [value for _, value in bars] == [150_000, 90_000, 30_000]  # no CDC figure in this run
    assert [value for _, value in ceilings] == [2_000_000, 400_000]


def test_write_all_creates_every_png(tmp_path):
    paths = write_all(tmp_path, RESULTS)
    assert [p.name for p in paths] == ["throughput.png", "freshness.png", "scaling.png"]
    for path in paths:
        assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 10_000


def test_plots_without_data_are_skipped(tmp_path):
    assert write_all(tmp_path, {"ceilings": {"parquet_write_rows_per_s": 1}}) == []
    assert freshness_chart({"series": {"freshness": []}}, tmp_path / "f.png") is None
    assert scaling_chart({"seed": {"1": {"status": "failed (exit 1)"}}}, tmp_path / "s.png") is None
    assert list(tmp_path.iterdir()) == []
