"""Turning one benchmark run's ``results.json`` into tables: headline figures with their in-run
baselines, ratios, the scaling table, and the markdown summary.

Pure functions of the results mapping (no I/O except :func:`write_summary`), so they are unit-tested.
A figure a stage did not produce (stage skipped or failed) is shown as ``-``, never invented.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

SCALING_COLUMNS = ("stage", "scale", "data rows", "figure", "seconds", "time ×", "peak RSS MiB", "memory ×")
# stage → (what is timed, path to its data size, path to its seconds); silver is handled per table size.
SCALING_FIGURES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "seed": ("load s", ("rows_total",), ("seconds",)),
    "bronze": ("drain s (tuned)", ("events",), ("tuned", "seconds")),
    "gold": ("full rebuild s", ("source_rows",), ("full_rebuild_s",)),
}


def get(results: Any, *path: str) -> Any:
    """``results[a][b]…`` or ``None`` when any step is missing."""
    value = results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def number(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
        return f"{text} {unit}".strip()
    return str(value)


def _ratio(numerator: Any, denominator: Any) -> float | None:
    if not isinstance(numerator, int | float) or not isinstance(denominator, int | float) or not denominator:
        return None
    return round(numerator / denominator, 3)


def _silver_sizes(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The silver stage's per-table-size results, smallest table first."""
    sizes = [v for v in (results.get("silver") or {}).values() if isinstance(v, dict) and "merge_p95_s" in v]
    return sorted(sizes, key=lambda v: v.get("table_rows", 0))


def _largest_silver_p95(results: dict[str, Any]) -> Any:
    sizes = _silver_sizes(results)
    return sizes[-1]["merge_p95_s"] if sizes else None


def ratios(results: dict[str, Any]) -> dict[str, float | None]:
    """Stage figures relative to baselines measured in the same run."""
    return {
        "bronze_tuned_vs_naive": _ratio(
            get(results, "bronze", "tuned", "rows_per_s"), get(results, "bronze", "naive", "rows_per_s")
        ),
        "bronze_tuned_vs_parquet_ceiling": _ratio(
            get(results, "bronze", "tuned", "rows_per_s"),
            get(results, "ceilings", "parquet_write_rows_per_s"),
        ),
        "cdc_vs_kafka_produce_ceiling": _ratio(
            get(results, "cdc", "throughput_events_per_s"),
            get(results, "ceilings", "kafka_produce_rows_per_s"),
        ),
        "silver_merge_p95_vs_delta_merge_floor": _ratio(
            _largest_silver_p95(results), get(results, "floor", "delta_merge_cdf", "p95_s")
        ),
        "gold_incremental_p95_vs_delta_append_floor": _ratio(
            get(results, "gold", "incremental_p95_s"), get(results, "floor", "delta_append", "p95_s")
        ),
        "gold_incremental_p95_vs_gold_write_chain_floor": _ratio(
            get(results, "gold", "incremental_p95_s"), get(results, "floor", "gold_write_chain", "p95_s")
        ),
        "freshness_visibility_p95_vs_pipeline_floor": _ratio(
            get(results, "freshness", "visibility_ms", "p95"),
            get(results, "pipeline", "visibility_ms", "p95"),
        ),
        "freshness_achieved_vs_requested_rate": _ratio(
            get(results, "freshness", "achieved_tx_per_s"),
            get(results, "freshness", "rate_requested_tx_per_s"),
        ),
    }


def _target(value: Any, limit: float, unit: str, at_most: bool = True) -> str:
    if not isinstance(value, int | float):
        return "-"
    met = value <= limit if at_most else value >= limit
    return f"target {'≤' if at_most else '≥'} {limit:g} {unit}: {'met' if met else 'missed'}"


def _times(value: Any, what: str) -> str:
    return "-" if value is None else f"{value:.3g}× {what}".rstrip()


def headline_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(figure, value, in-run baseline or target) for every figure issue #11 asks for."""
    r, ratio = results, results.get("ratios") or ratios(results)
    rows: list[tuple[str, str, str]] = [
        ("seed load", number(get(r, "seed", "rows_per_s"), "rows/s"), ""),
        (
            "seed load, transactional rows",
            number(get(r, "seed", "transactional_rows_per_s"), "rows/s"),
            "target 1M rows ≤ 60 s: " + number(get(r, "seed", "meets_target")),
        ),
        (
            "CDC throughput",
            number(get(r, "cdc", "throughput_events_per_s"), "events/s"),
            _times(ratio.get("cdc_vs_kafka_produce_ceiling"), "Kafka produce ceiling"),
        ),
    ]
    for q in ("p50", "p95", "p99"):
        rows.append((f"CDC commit→Kafka {q}", number(get(r, "cdc", "latency_ms", q), "ms"), ""))
    rows += [
        (
            "bronze backlog drain",
            number(get(r, "bronze", "tuned", "rows_per_s"), "rows/s"),
            _times(ratio.get("bronze_tuned_vs_naive"), "the seed's naive snippet")
            + f" ({number(get(r, 'bronze', 'naive', 'rows_per_s'), 'rows/s')})",
        ),
        (
            "bronze drain ÷ Parquet write ceiling",
            number(ratio.get("bronze_tuned_vs_parquet_ceiling")),
            "pyarrow, same run",
        ),
    ]
    for floor, what in (
        ("gold_write_chain", "gold's write chain (fact append, then 4 marts replaced concurrently)"),
        ("delta_replace_where", "one-row replaceWhere"),
        ("delta_merge_cdf", "one-row MERGE, change data feed on"),
        ("delta_merge", "one-row MERGE"),
        ("delta_append", "one-row append"),
        ("delta_read", "one-row table read"),
    ):
        rows.append(
            (
                f"Delta floor: {what} p95",
                number(get(r, "floor", floor, "p95_s"), "s"),
                f"p50 {number(get(r, 'floor', floor, 'p50_s'), 's')}",
            )
        )
    for size in _silver_sizes(r):
        rows.append(
            (
                f"silver MERGE p95 @ {size.get('table_rows', 0):,} rows",
                number(size["merge_p95_s"], "s"),
                _target(size["merge_p95_s"], 1.0, "s"),
            )
        )
    rows += [
        (
            "gold full rebuild",
            number(get(r, "gold", "full_rebuild_s"), "s"),
            _target(get(r, "gold", "full_rebuild_s"), 60.0, "s"),
        ),
        (
            "gold incremental p95",
            number(get(r, "gold", "incremental_p95_s"), "s"),
            _target(get(r, "gold", "incremental_p95_s"), 2.0, "s"),
        ),
        (
            "silver MERGE p95 (largest table) ÷ Delta one-row MERGE p95",
            number(ratio.get("silver_merge_p95_vs_delta_merge_floor")),
            "change data feed on, same run",
        ),
        (
            "gold incremental p95 ÷ Delta one-row append p95",
            number(ratio.get("gold_incremental_p95_vs_delta_append_floor")),
            "same run",
        ),
        (
            "gold incremental p95 ÷ gold's write chain p95",
            number(ratio.get("gold_incremental_p95_vs_gold_write_chain_floor")),
            "one-row fact append, then 4 one-row mart replaceWheres concurrently; same run",
        ),
    ]
    floor_rate = get(r, "pipeline", "rate")
    floor_at = (
        f"at {floor_rate:g} changes/s, 3 bare Spark drivers" if isinstance(floor_rate, int | float) else ""
    )
    for q in ("p50", "p95", "p99"):
        rows.append(
            (
                f"pipeline floor commit→gold {q} (per change)",
                number(get(r, "pipeline", "visibility_ms", q), "ms"),
                floor_at,
            )
        )
    rows.append(
        (
            "pipeline floor: peak memory of its three drivers",
            number(get(r, "pipeline", "memory", "total_peak", "pss_mib"), "MiB PSS"),
            "no Kafka, no Postgres",
        )
    )
    rate = get(r, "freshness", "rate_requested_tx_per_s")
    at = f"at {rate:g} tx/s" if isinstance(rate, int | float) else ""
    for q in ("p50", "p95", "p99"):
        rows.append(
            (
                f"freshness commit→gold {q} (per source tx)",
                number(get(r, "freshness", "visibility_ms", q), "ms"),
                at,
            )
        )
    rows.append(
        (
            "freshness p95 ÷ pipeline floor p95",
            number(ratio.get("freshness_visibility_p95_vs_pipeline_floor")),
            "same run",
        )
    )
    for q in ("p50", "p95", "p99"):
        rows.append(
            (
                f"gold commit lag {q} (per gold commit)",
                number(get(r, "freshness", "commit_lag_ms", q), "ms"),
                at,
            )
        )
    rows += [
        (
            "SQL on a gold mart p50 (slowest of the stage's queries)",
            number(get(r, "sql", "mart_query_p50_ms"), "ms"),
            _target(get(r, "sql", "mart_query_p50_ms"), 100.0, "ms"),
        ),
        (
            "`lakepulse sql` whole command p50",
            number(get(r, "sql", "command", "p50_ms"), "ms"),
            "new process: Python start and imports included",
        ),
    ]
    for service, peak in sorted((get(r, "freshness", "memory", "per_service_peak") or {}).items()):
        rows.append(
            (f"peak RSS {service}", number(peak.get("rss_mib"), "MiB"), f"PSS {number(peak.get('pss_mib'))}")
        )
    stack = get(r, "freshness", "memory", "stack_peak") or {}
    if stack:
        rows.append(
            (
                "peak memory, whole stack",
                number(stack.get("pss_mib"), "MiB PSS"),
                f"RSS sum {number(stack.get('rss_mib'), 'MiB')}",
            )
        )
    for stage in ("seed", "simulator", "cdc", "bronze", "silver", "gold"):
        if get(r, stage, "peak_rss_mib") is not None:
            rows.append(
                (f"peak RSS, {stage} stage run", number(get(r, stage, "peak_rss_mib"), "MiB"), "process tree")
            )
    rows += [
        (
            "ceiling: Parquet write",
            number(get(r, "ceilings", "parquet_write_rows_per_s"), "rows/s"),
            "pyarrow",
        ),
        (
            "ceiling: Kafka produce",
            number(get(r, "ceilings", "kafka_produce_rows_per_s"), "msg/s"),
            "1 process",
        ),
    ]
    return [row for row in rows if row[1] != "-"]  # figures of stages that did not run are left out


def scaling_points(scaling: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One point per (stage, scale): data rows, the timed figure in seconds, the run's peak RSS."""
    points = []
    for stage, by_scale in scaling.items():
        for scale_text, figures in by_scale.items():
            if figures.get("status") != "ok":
                continue
            if stage == "silver":
                sizes = [v for v in figures.values() if isinstance(v, dict) and "merge_p95_s" in v]
                if not sizes:
                    continue
                largest = max(sizes, key=lambda v: v.get("table_rows", 0))
                figure, rows, seconds = (
                    "MERGE p95 s (larger table)",
                    largest.get("table_rows"),
                    largest["merge_p95_s"],
                )
            elif stage in SCALING_FIGURES:
                figure, rows_path, seconds_path = SCALING_FIGURES[stage]
                rows, seconds = get(figures, *rows_path), get(figures, *seconds_path)
            else:
                continue
            points.append(
                {
                    "stage": stage,
                    "scale": float(scale_text),
                    "rows": rows,
                    "figure": figure,
                    "seconds": seconds,
                    "peak_rss_mib": figures.get("peak_rss_mib"),
                }
            )
    return sorted(points, key=lambda p: (p["stage"], p["scale"]))


def scaling_rows(scaling: dict[str, dict[str, Any]]) -> list[tuple[str, ...]]:
    """The scaling table: growth of time and memory relative to the stage's smallest scale."""
    rows: list[tuple[str, ...]] = []
    first: dict[str, dict[str, Any]] = {}
    for point in scaling_points(scaling):
        base = first.setdefault(point["stage"], point)
        rows.append(
            (
                point["stage"],
                f"{point['scale']:g}",
                number(point["rows"]),
                point["figure"],
                number(point["seconds"]),
                _times(_ratio(point["seconds"], base["seconds"]), ""),
                number(point["peak_rss_mib"]),
                _times(_ratio(point["peak_rss_mib"], base["peak_rss_mib"]), ""),
            )
        )
    return rows


def flatten(prefix: str, value: Any) -> list[tuple[str, str]]:
    """Every figure as (dotted.key, text); time series are left to results.json and the plots."""
    if isinstance(value, dict):
        return [
            row
            for key, inner in value.items()
            if key != "series"
            for row in flatten(f"{prefix}.{key}" if prefix else key, inner)
        ]
    return [(prefix, f"{value:,.3f}" if isinstance(value, float) else str(value))]


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]


def section(title: str) -> list[str]:
    return ["", f"## {title}", ""]


def write_summary(out_dir: Path, results: dict[str, Any], images: Sequence[Path] = ()) -> Path:
    lines = [f"# LakePulse benchmark {out_dir.name}", ""]
    lines.append(
        f"Scales: {', '.join(f'{s:g}' for s in results.get('scales', []))}; "
        f"headline figures at scale {results.get('reference_scale', 1.0):g}; "
        f"{get(results, 'machine', 'cores')} cores. How to read this: bench/results/README.md."
    )
    lines += section("Headline figures")
    lines += markdown_table(("figure", "value", "in-run baseline / target"), headline_rows(results))
    if results.get("scaling"):
        lines += section("Scaling")
        lines += markdown_table(SCALING_COLUMNS, scaling_rows(results["scaling"]))
    if images:
        lines += section("Plots")
        lines += [f"![{image.stem}]({image.name})" for image in images]
    lines += section("All figures")
    lines += markdown_table(("figure", "value"), flatten("", results))
    path = out_dir / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path
