"""PNG plots of one benchmark run (matplotlib, headless): throughput per stage against the machine's
ceilings, freshness over time with the stack's memory, and time/memory against data scale.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot), so no GUI backend or
global state is involved. Every function returns the file it wrote, or ``None`` when the run has no
data for that plot (a stage skipped or failed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from bench.report import get, scaling_points

# (bar label, path to a rows-or-events/s figure in results.json)
THROUGHPUT_BARS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("seed load\n(Postgres COPY)", ("seed", "rows_per_s")),
    ("CDC emitter\n(WAL → Kafka)", ("cdc", "throughput_events_per_s")),
    ("bronze drain\n(tuned writer)", ("bronze", "tuned", "rows_per_s")),
    ("bronze drain\n(seed's snippet)", ("bronze", "naive", "rows_per_s")),
)
CEILINGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ceiling: pyarrow Parquet write", ("ceilings", "parquet_write_rows_per_s")),
    ("ceiling: Kafka produce, 1 process", ("ceilings", "kafka_produce_rows_per_s")),
)


def _numbers(
    results: dict[str, Any], specs: tuple[tuple[str, tuple[str, ...]], ...]
) -> list[tuple[str, float]]:
    found = []
    for label, path in specs:
        value = get(results, *path)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            found.append((label, float(value)))
    return found


def throughput_figures(results: dict[str, Any]) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """(stage bars, ceiling lines) present in this run."""
    return _numbers(results, THROUGHPUT_BARS), _numbers(results, CEILINGS)


def throughput_chart(results: dict[str, Any], path: Path) -> Path | None:
    bars, ceilings = throughput_figures(results)
    if not bars:
        return None
    figure = Figure(figsize=(9, 5), layout="constrained")
    axes = figure.subplots()
    labels, values = zip(*bars, strict=True)
    drawn = axes.bar(labels, values, color=["#4c72b0", "#55a868", "#c44e52", "#bbbbbb"][: len(values)])
    axes.bar_label(drawn, labels=[f"{v:,.0f}" for v in values], padding=3)
    for (label, value), style in zip(ceilings, ("--", ":"), strict=False):
        axes.axhline(value, color="black", linestyle=style, linewidth=1, label=f"{label} ({value:,.0f}/s)")
    axes.set_yscale("log")
    axes.set_ylabel("rows or events per second (log)")
    axes.set_title("Throughput per stage, with this machine's ceilings measured in the same run")
    if ceilings:
        axes.legend(loc="upper right", fontsize="small")
    figure.savefig(path, dpi=110)
    return path


def freshness_chart(freshness: dict[str, Any], path: Path) -> Path | None:
    """Commit lag of every gold commit over the workload, and the whole stack's memory below it."""
    series = freshness.get("series") or {}
    points = series.get("freshness") or []
    if not points:
        return None
    table = freshness.get("table", "")
    figure = Figure(figsize=(10, 7), layout="constrained")
    lag_axes, memory_axes = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    chosen = [(t, lag / 1000) for t, lag, name in points if name == table]
    others = [(t, lag / 1000) for t, lag, name in points if name != table]
    if others:
        lag_axes.scatter(*zip(*others, strict=True), s=8, color="#bbbbbb", label="other gold tables")
    if chosen:
        lag_axes.plot(*zip(*chosen, strict=True), marker="o", markersize=3, label=f"gold.{table}")
    p95 = get(freshness, "visibility_ms", "p95")
    if isinstance(p95, int | float):
        lag_axes.axhline(
            p95 / 1000, color="#c44e52", linestyle="--", label=f"per-transaction p95 {p95 / 1000:.1f} s"
        )
    duration = freshness.get("duration_s")
    if isinstance(duration, int | float):
        for axes in (lag_axes, memory_axes):
            axes.axvspan(0, duration, color="#4c72b0", alpha=0.06)
    rate = freshness.get("rate_requested_tx_per_s")
    workload = f"{rate:g} tx/s" if isinstance(rate, int | float) else "workload"
    lag_axes.set_title(f"Freshness: gold commit time − newest source commit it covers ({workload}, shaded)")
    lag_axes.set_ylabel("commit lag (s)")
    lag_axes.set_ylim(bottom=0)
    lag_axes.legend(loc="upper left", fontsize="small")
    memory = series.get("memory") or []
    if memory:
        times, rss, pss = zip(*memory, strict=True)
        memory_axes.plot(times, pss, label="stack PSS (no double counting)")
        memory_axes.plot(times, rss, linestyle=":", label="stack RSS sum")
        memory_axes.legend(loc="lower right", fontsize="small")
    memory_axes.set_ylabel("MiB")
    memory_axes.set_xlabel("seconds since the workload started")
    figure.savefig(path, dpi=110)
    return path


def scaling_chart(scaling: dict[str, dict[str, Any]], path: Path) -> Path | None:
    """Seconds and peak RSS of each size-dependent stage against the data scale (log-log)."""
    points = [p for p in scaling_points(scaling) if isinstance(p["seconds"], int | float)]
    if not points:
        return None
    figure = Figure(figsize=(11, 4.5), layout="constrained")
    time_axes, memory_axes = figure.subplots(1, 2)
    scales = sorted({p["scale"] for p in points})
    for stage in sorted({p["stage"] for p in points}):
        mine = [p for p in points if p["stage"] == stage]
        label = f"{stage}: {mine[0]['figure']}"
        time_axes.plot([p["scale"] for p in mine], [p["seconds"] for p in mine], marker="o", label=label)
        with_memory = [p for p in mine if isinstance(p["peak_rss_mib"], int | float)]
        if with_memory:
            memory_axes.plot(
                [p["scale"] for p in with_memory],
                [p["peak_rss_mib"] for p in with_memory],
                marker="o",
                label=stage,
            )
    for axes, ylabel, title in (
        (time_axes, "seconds", "Time against data scale"),
        (memory_axes, "peak RSS of the stage run (MiB)", "Memory against data scale"),
    ):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xticks(scales, [f"{scale:g}" for scale in scales])
        axes.xaxis.set_minor_formatter(NullFormatter())
        plain = FuncFormatter(lambda value, _: f"{value:g}")  # 300, not 3×10²
        axes.yaxis.set_major_formatter(plain)
        axes.yaxis.set_minor_formatter(plain)
        axes.set_xlabel("data scale (1 ≈ 1M transactional rows)")
        axes.set_ylabel(ylabel)
        axes.set_title(title)
        axes.grid(True, which="both", alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize="small")
    figure.savefig(path, dpi=110)
    return path


def write_all(out_dir: Path, results: dict[str, Any]) -> list[Path]:
    """Every plot this run has data for, into ``out_dir``."""
    drawn = [
        throughput_chart(results, out_dir / "throughput.png"),
        freshness_chart(results.get("freshness") or {}, out_dir / "freshness.png"),
        scaling_chart(results.get("scaling") or {}, out_dir / "scaling.png"),
    ]
    return [path for path in drawn if path is not None]
